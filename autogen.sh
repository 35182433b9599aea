#!/bin/sh
# Generate configure and Makefile.in from a git checkout.
set -e
cd "$(dirname "$0")"
# aclocal reads m4/ (ACLOCAL_AMFLAGS) before libtoolize fills it.
mkdir -p m4
autoreconf --install --force
