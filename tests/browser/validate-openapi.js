// validate-openapi.js FILE: validate an OpenAPI document with an
// independent validator (@apidevtools/swagger-parser: the OpenAPI 3.1
// JSON Schema, then its own checks, $refs resolved).  Prints what it
// found; exit status 0 only with zero errors.  Test tooling only.
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

const file = process.argv[2];
if (!file) {
    console.error('usage: validate-openapi.js FILE');
    process.exit(2);
}
SwaggerParser.validate(file).then((api) => {
    const ops = Object.values(api.paths || {})
        .reduce((n, item) => n + Object.keys(item).length, 0);
    console.log(`valid: OpenAPI ${api.openapi}, "${api.info.title}" ` +
                `${api.info.version}: ${Object.keys(api.paths).length} ` +
                `paths, ${ops} operations, 0 errors`);
}).catch((err) => {
    console.log(`invalid: ${err.message}`);
    if (err.details)
        console.log(JSON.stringify(err.details, null, 2));
    process.exit(1);
});
