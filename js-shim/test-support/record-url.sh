#!/bin/sh
# A "browser" for tests (OPENCODE_OAUTH2_BROWSER="record-url.sh <file>"): it writes the
# URL it is asked to open to <file> and opens nothing, as when nobody is at the browser.
printf '%s\n' "$2" > "$1"
