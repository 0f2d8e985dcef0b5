#!/usr/bin/env bash
# Installs what the pgstac tests (tests/test_search_pgstac.py) need to run a real Planetary
# Computer-style STAC API on 127.0.0.1: PostgreSQL + PostGIS from apt, and stac-fastapi-pgstac,
# pypgstac and uvicorn in their own virtual environment, .venv-pgstac (pinned in
# pgstac-requirements.txt beside this script), so their pins never touch the project's .venv.
#
# Optional: it never aborts a caller. Exit 0 means everything is in place (then `.ci/run` sets
# HLSMAP_REQUIRE_PGSTAC=1 and the tests fail rather than skip if the server cannot start);
# otherwise it says why on stderr and exits 1, and the pgstac tests skip with that reason.
#
#   bash tests/services/pgstac.sh        # idempotent: a second run takes about a second
set -uo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=.venv-pgstac
REQS=tests/services/pgstac-requirements.txt
# PostGIS for the newest PostgreSQL already installed (Debian bookworm's is 15)
installed=$(ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1)
PG_VERSION=${HLSMAP_PG_VERSION:-${installed:-15}}

say() { echo "pgstac services: $*" >&2; }
give_up() {
    say "not installed: $*; the pgstac tests will skip"
    exit 1
}

have_postgis() {
    local bin ver
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$bin" ] || continue
        ver=$(basename "$(dirname "$(dirname "$bin")")")
        [ -f "/usr/share/postgresql/$ver/extension/postgis.control" ] && return 0
    done
    return 1
}

if ! have_postgis; then
    if [ "$(id -u)" != 0 ]; then
        give_up "PostgreSQL with PostGIS is missing and only root can apt-get install it" \
            "(apt-get install postgresql-$PG_VERSION-postgis-3)"
    fi
    command -v apt-get >/dev/null || give_up "PostgreSQL with PostGIS is missing and there is no apt-get"
    say "installing postgresql-$PG_VERSION-postgis-3 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        "postgresql-$PG_VERSION" "postgresql-$PG_VERSION-postgis-3"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -f "$log"
        give_up "apt-get install postgresql-$PG_VERSION-postgis-3 failed (log above)"
    fi
    rm -f "$log"
    have_postgis || give_up "PostGIS is still missing after apt-get install"
fi

if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    # postgres refuses to run as root; the Debian package creates this user, make sure of it
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres 2>/dev/null ||
        give_up "running as root and there is no 'postgres' user to run the database as"
fi

stamp="$VENV/.installed-$(cksum <"$REQS" | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    say "creating $VENV (stac-fastapi-pgstac, pypgstac, uvicorn)"
    rm -rf "$VENV"
    log=$(mktemp)
    if ! { "$PYTHON" -m venv "$VENV" &&
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"; } \
        >"$log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 20 >&2
        rm -f "$log"
        rm -rf "$VENV"
        give_up "pip install -r $REQS into $VENV failed (log above)"
    fi
    rm -f "$log"
    touch "$stamp"
fi
"$VENV/bin/python" -c "import stac_fastapi.pgstac.app, pypgstac, uvicorn" 2>/dev/null ||
    give_up "$VENV cannot import stac_fastapi.pgstac, pypgstac or uvicorn; delete it and rerun"
say "ready (PostGIS, $VENV)"
