#!/usr/bin/env bash
# The default test suite on each supported Airflow minor version, each in its own venv.
#
#   scripts/test_matrix.sh [LEG ...]      LEG: 3.1 | 3.2 | 3.3 | lowest   (default: 3.1 3.2 3.3)
#   scripts/test_matrix.sh --venv LEG     only create (or refresh) the leg's venv and print its path
#
# A leg "3.x" installs the project's [dev] extra into .venv-af3.x with Airflow pinned to the newest
# 3.x patch (uv resolves `apache-airflow==3.x.*` as a constraint, so every other package is the
# newest that fits that Airflow). The leg "lowest" resolves with `--resolution lowest-direct` into
# .venv-lowest, so every direct dependency is at its floor in pyproject.toml (scripts/check_floors.py
# checks that it is): the floors are true only if this leg passes. uv's cache is shared by all
# legs, so a second venv costs little.
# A venv is rebuilt only when pyproject.toml or this script changed. PYTEST_ARGS is passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh          # .venv carries the uv that builds the other venvs
UV=.venv/bin/uv
PY="${PYTHON:-python3}"

venv_of() {
    case "$1" in
        3.[0-9]*) echo ".venv-af$1" ;;
        lowest) echo ".venv-lowest" ;;
        *) echo "unknown leg '$1' (use 3.1, 3.2, 3.3 or lowest)" >&2; return 2 ;;
    esac
}

# What uv must hold each leg to, beyond pyproject.toml.
leg_constraints() {
    case "$1" in
        3.[0-9]*) echo "apache-airflow==$1.*" ;;
    esac
    case "$1" in
        # Airflow 3.2 sets no upper bound on two packages whose newest releases break its task
        # runner (every task fails, dag.test() included), where Airflow's own constraint files hold
        # them back. Users of 3.2 need the same caps (README):
        #   fastapi >= 0.137: "Model 'TITerminalStatePayload' needs a discriminator field"
        #                     (3.3 caps fastapi <0.137 itself);
        #   svcs >= 26:       "'State' object has no attribute 'svcs_registry'" in the in-process
        #                     execution API (3.3 adapted to svcs 26).
        3.2) printf '%s\n' "fastapi<0.137" "svcs<26" ;;
        # The lowest leg gets Airflow 3.1.1, which imports structlog.dev.Styles; structlog 25.5
        # removed it (3.1.8 no longer imports it).
        lowest) echo "structlog<25.5" ;;
    esac
    case "$1" in
        # Airflow 3.1's get_fernet() sets an attribute on MultiFernet, which cryptography 51 (a
        # Rust type) refuses: every connection lookup then fails and Airflow reports the connection
        # as "isn't defined". 3.2 and 3.3 do not. Users of 3.1 need the same cap (README).
        3.1 | lowest) echo "cryptography<51" ;;
    esac
}

# What a leg resolved, in the log: when a new release of some dependency breaks a leg, the diff
# between two runs' freezes names it.
print_freeze() {
    echo "test-matrix: packages in $1:" >&2
    "$UV" pip freeze --python "$1/bin/python" | sed 's/^/  freeze: /' >&2
}

make_venv() {
    local leg=$1 venv stamp
    venv=$(venv_of "$leg")
    stamp="$venv/.installed-$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)"
    [[ -f "$stamp" ]] && return 0
    echo "test-matrix: building $venv (Airflow $leg) ..." >&2
    rm -rf "$venv"
    "$UV" venv --quiet --python "$PY" "$venv"
    local pins
    pins=$(mktemp)
    leg_constraints "$leg" >"$pins"
    local -a resolve=(--constraint "$pins")
    [[ "$leg" == lowest ]] && resolve+=(--resolution lowest-direct)
    "$UV" pip install --quiet --compile-bytecode --python "$venv/bin/python" "${resolve[@]}" -e ".[dev]"
    rm -f "$pins"
    touch "$stamp"
}

run_leg() {
    local leg=$1 venv
    venv=$(venv_of "$leg")
    make_venv "$leg"
    local airflow
    airflow=$("$venv/bin/python" -c "import airflow; print(airflow.__version__)")
    echo "test-matrix: leg $leg: Airflow $airflow, $("$venv/bin/python" --version)" >&2
    print_freeze "$venv"
    if [[ "$leg" == lowest ]]; then
        "$venv/bin/python" scripts/check_floors.py >&2 || return 1
    fi
    # What each leg runs is decided in one place, tests/ci_matrix.py (which folders depend on
    # Airflow's version, which on a dependency floor only, which on neither, and why): the leg's
    # name in APB_MATRIX_LEG makes the suite deselect the rest.
    # shellcheck disable=SC2086  # PYTEST_ARGS is a word list on purpose, as in the Makefile
    APB_MATRIX_LEG=$leg "$venv/bin/python" -m pytest ${PYTEST_ARGS:-}
}

if [[ "${1:-}" == --venv ]]; then
    make_venv "$2"
    venv_of "$2"
    exit 0
fi

legs=("$@")
[[ ${#legs[@]} -gt 0 ]] || legs=(3.1 3.2 3.3)
failed=()
for leg in "${legs[@]}"; do
    run_leg "$leg" || failed+=("$leg")
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "test-matrix: failed legs: ${failed[*]}" >&2
    exit 1
fi
