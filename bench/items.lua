-- bench/items.lua: wrk script for GET /items/N with a different N on every
-- request, so that nothing on the way can answer from a cache.
-- Each wrk thread runs its own copy; the thread number keeps their N apart.

local counter = 0

function setup(thread)
    -- called in the main Lua state, once per thread, before it starts
    thread_count = (thread_count or 0) + 1
    thread:set("base", thread_count * 100000000)
end

function request()
    counter = counter + 1
    return wrk.format("GET", "/items/" .. ((base or 0) + counter))
end
