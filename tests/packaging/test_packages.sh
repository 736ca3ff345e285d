#!/usr/bin/env bash
# test_packages.sh SOURCE_DIR [WORK_DIR] — the packaging test (ctest label
# `packaging`).  Builds the switchyard and switchyard-dev/-devel packages
# from a plain build in WORK_DIR (no sanitizers, no tests, and no -Werror:
# a package build must not break on a newer compiler's warnings; CI's own
# build has it), runs lintian on the .debs (no errors allowed), inspects
# the .rpms, and — only as root in CI ($CI set), where the machine is
# throwaway — installs both .debs, runs the installed host, builds the
# installed plugin template, purges and checks what is left.
set -euo pipefail
src=$(cd "${1:?usage: $0 SOURCE_DIR [WORK_DIR]}" && pwd)
work=${2:-${TMPDIR:-/tmp}/switchyard-pkgtest}
fails=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
need() { command -v "$1" >/dev/null || { echo "FAIL: $1 not installed (scripts/install-deps)"; exit 1; }; }
need cpack; need lintian; need rpm; need rpmbuild; need dpkg-deb

cmake -S "$src" -B "$work" -DCMAKE_INSTALL_PREFIX=/usr \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHYARD_TESTS=OFF \
      -DSWITCHYARD_SANITIZE=OFF -DSWITCHYARD_WERROR=OFF >"$work.cmake.log" 2>&1 ||
    { cat "$work.cmake.log"; exit 1; }
cmake --build "$work" -j2 >"$work.build.log" 2>&1 ||
    { tail -50 "$work.build.log"; exit 1; }
rm -rf "$work/packages"
(cd "$work" && cpack -G "DEB;RPM") >"$work.cpack.log" 2>&1 ||
    { cat "$work.cpack.log"; exit 1; }

version=$(sed -n 's/^project(switchyard VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb=$(ls "$work"/packages/switchyard_"$version"-1_*.deb)
debdev=$(ls "$work"/packages/switchyard-dev_"$version"-1_*.deb)
rpmf=$(ls "$work"/packages/switchyard-"$version"-1.*.rpm)
rpmdev=$(ls "$work"/packages/switchyard-devel-"$version"-1.*.rpm)
pass "built $(cd "$work/packages" && ls *.deb *.rpm | tr '\n' ' ')"

# --- deb -------------------------------------------------------------------
lintian_out=$(lintian --fail-on none --tag-display-limit 0 \
    "$deb" "$debdev" 2>&1 | grep -v 'running with root privileges' || true)
echo "$lintian_out" | sed 's/^/  lintian: /'
if echo "$lintian_out" | grep -q '^E: '; then fail "lintian reports errors"
else pass "lintian: no errors"; fi

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/switchyard ./etc/switchyard/conf.d/host.ini \
         ./usr/lib/systemd/system/switchyard.service \
         ./usr/share/man/man8/switchyard.8.gz \
         ./usr/share/man/man5/switchyard.conf.5.gz \
         ./usr/share/switchyard/sql/001_inbox_outbox.sql ./var/lib/switchyard/; do
    echo "$contents" | grep -qx "$f" && pass "deb has $f" || fail "deb lacks $f"
done
# Bundled plugins and their example files come by glob from plugins/*/ and
# conf.d/*.ini; the sales adapters among them.
for f in pyxis.so tempo.so; do
    echo "$contents" | grep -q "/switchyard/plugins/$f\$" &&
        pass "deb has plugin $f" || fail "deb lacks plugin $f"
done
for f in 10-pyxis.ini 10-tempo.ini; do
    echo "$contents" | grep -qx "./usr/share/doc/switchyard/examples/conf.d/$f" &&
        pass "deb has example $f" || fail "deb lacks example $f"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/switchyard/conf.d/host.ini &&
    pass "host.ini is a conffile" || fail "host.ini is not a conffile"
depends=$(dpkg-deb -f "$deb" Depends)
echo "$depends" | grep -q librdkafka && echo "$depends" | grep -q libpq5 &&
    echo "$depends" | grep -q adduser && pass "Depends: $depends" ||
    fail "Depends incomplete: $depends"
[ "$(dpkg-deb -f "$deb" Recommends)" = postgresql ] &&
    pass "PostgreSQL only recommended" || fail "Recommends: $(dpkg-deb -f "$deb" Recommends)"
devcontents=$(dpkg-deb -c "$debdev" | awk '{print $6}')
echo "$devcontents" | grep -qx ./usr/include/switchyard/sdk.h &&
    pass "dev has sdk.h" || fail "dev lacks sdk.h"
echo "$devcontents" | grep -q '/pkgconfig/switchyard-sdk.pc$' &&
    pass "dev has switchyard-sdk.pc" || fail "dev lacks switchyard-sdk.pc"
for f in switchyard/testkit.h libswitchyard-testkit.a switchyard-testkit.pc; do
    echo "$devcontents" | grep -q "/$f\$" && pass "dev has $f" || fail "dev lacks $f"
done
echo "$devcontents" | grep -qx ./usr/share/switchyard/template/CMakeLists.txt &&
    pass "dev has the plugin template" || fail "dev lacks the plugin template"
echo "$devcontents" | grep -q '^./usr/bin/' && fail "dev ships a binary" ||
    pass "dev has no binary"

# --- rpm -------------------------------------------------------------------
rpm_list=$(rpm -qlp "$rpmf" 2>/dev/null)
echo "$rpm_list" | sed 's/^/  rpm -qlp: /'
for f in /usr/bin/switchyard /etc/switchyard/conf.d/host.ini \
         /usr/lib/systemd/system/switchyard.service /var/lib/switchyard; do
    echo "$rpm_list" | grep -qx "$f" && pass "rpm has $f" || fail "rpm lacks $f"
done
rpm -qp --configfiles "$rpmf" 2>/dev/null | grep -qx /etc/switchyard/conf.d/host.ini &&
    pass "rpm: host.ini is %config" || fail "rpm: host.ini is not %config"
scripts=$(rpm -qp --scripts "$rpmf" 2>/dev/null)
echo "$scripts" | grep -q "useradd -r" && pass "rpm %pre adds the user" ||
    fail "rpm %pre lacks useradd"
echo "$scripts" | grep -q "disable --now switchyard.service" &&
    pass "rpm %preun stops the unit" || fail "rpm %preun lacks the unit stop"
requires=$(rpm -qp --requires "$rpmf" 2>/dev/null)
echo "$requires" | grep -q 'librdkafka.so' &&
    pass "rpm requires librdkafka (autoreq)" || fail "rpm lacks library requires"
devlist=$(rpm -qlp "$rpmdev" 2>/dev/null)
echo "$devlist" | grep -qx '/usr/include/switchyard/sdk.h' &&
    pass "devel rpm has sdk.h" || fail "devel rpm lacks sdk.h"

# The plugin author's last step, with nothing but the installed packages:
# the installed host runs (`switchyard dev`: its embedded PostgreSQL and
# Kafka), the template's .so goes into the installed plugin directory and
# its .ini beside host.ini, SIGHUP, and an order sent with `switchyard
# produce` comes out normalised on the topic `switchyard tail` reads.
outsider_adapter() {
    local work=$1 conf pid plugdir brokers out i
    conf=$(mktemp -d)
    cp /etc/switchyard/conf.d/host.ini "$conf"/
    plugdir=$(sed -n 's/^plugin_dir = //p' "$conf/host.ini")
    [ -d "$plugdir" ] || { echo "no plugin_dir in the installed host.ini"; return 1; }
    SWITCHYARD_HTTP_LISTEN= /usr/bin/switchyard dev --conf-dir "$conf" \
        >"$conf/out" 2>"$conf/log" &
    pid=$!
    for i in $(seq 600); do
        grep -q '"host started"\|msg="host started"' "$conf/log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    brokers=$(sed -n 's/^kafka.brokers=//p' "$conf/out")
    if [ -z "$brokers" ] || ! grep -q 'host started' "$conf/log"; then
        cat "$conf/out" "$conf/log"; kill "$pid" 2>/dev/null; rm -rf "$conf"
        return 1
    fi
    cp "$work/template/sales_example.so" "$plugdir/"
    cp /usr/share/switchyard/template/50-sales-example.ini "$conf/"
    kill -HUP "$pid"
    for i in $(seq 300); do
        grep -q 'reload finished' "$conf/log" && break
        sleep 0.1
    done
    local rc=0
    grep 'reload finished' "$conf/log" | grep -q 'level=info' ||
        { echo "reload did not succeed"; rc=1; }
    if [ $rc -eq 0 ]; then
        echo '{"order_id":"A-1","customer_id":"C-9","country_code":"FR","services":[{"service_type":"heat_pump"}]}' |
            /usr/bin/switchyard produce --brokers "$brokers" \
                --type sales.example.order.created --key FR_A-1 || rc=1
        # The output topic appears with the first event the relay publishes.
        for i in $(seq 60); do
            out=$(/usr/bin/switchyard tail --brokers "$brokers" \
                      integration.sales.order_received --from-beginning \
                      -n 1 --json 2>&1) && [ -n "$out" ] && break
            sleep 1
        done
        echo "tail: $out"
        echo "$out" | grep -q '"sales_order_id": *"A-1"' ||
            { echo "no normalised order A-1 on integration.sales.order_received"; rc=1; }
    fi
    kill -INT "$pid"
    wait "$pid" || { echo "switchyard dev exited $?"; rc=1; }
    [ $rc -eq 0 ] || cat "$conf/out" "$conf/log"
    rm -f "$plugdir/sales_example.so"
    rm -rf "$conf"
    return $rc
}

# --- install, run, purge (CI as root only: it changes the machine) --------
if [ -n "${CI:-}" ] && [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    dpkg -s switchyard >/dev/null 2>&1 && apt-get purge -y switchyard switchyard-dev >/dev/null
    if apt-get install -y --no-install-recommends "$deb" "$debdev" \
            >"$work.apt.log" 2>&1; then
        pass "installed $(basename "$deb") $(basename "$debdev")"
        # A plugin author's build: the installed template, the installed .pc.
        if "$src/tests/packaging/test_template.sh" \
                /usr/share/switchyard/template "" "$work/template" \
                >"$work.template.log" 2>&1; then
            pass "installed template builds and passes its tests (test kit too)"
        else
            cat "$work.template.log"; fail "installed template"
        fi
        if outsider_adapter "$work" >"$work.outsider.log" 2>&1; then
            pass "template adapter hot-loaded into the installed host handles events"
        else
            cat "$work.outsider.log"; fail "template adapter in the installed host"
        fi
        /usr/bin/switchyard --version && pass "switchyard --version" ||
            fail "switchyard --version"
        if out=$(/usr/bin/switchyard check --conf-dir /etc/switchyard/conf.d 2>&1); then
            pass "switchyard check: $out"
        else
            fail "switchyard check: $out"
        fi
        # The bundled plugins, enabled with their example files, load.
        conf=$(mktemp -d)
        cp /etc/switchyard/conf.d/host.ini \
            /usr/share/doc/switchyard/examples/conf.d/*.ini "$conf"/
        n=$(ls /usr/share/doc/switchyard/examples/conf.d/*.ini | wc -l)
        if out=$(/usr/bin/switchyard check --conf-dir "$conf" 2>&1) &&
                echo "$out" | grep -q "$n plugin(s) enabled"; then
            pass "bundled plugins: $out"
        else
            fail "bundled plugins with their example files: $out"
        fi
        rm -rf "$conf"
        if command -v systemd-analyze >/dev/null; then
            if out=$(systemd-analyze verify \
                    /usr/lib/systemd/system/switchyard.service 2>&1); then
                pass "systemd-analyze verify: clean"
            else
                fail "systemd-analyze verify: $out"
            fi
        else
            echo "skip: systemd-analyze not installed"
        fi
        getent passwd switchyard >/dev/null && pass "user switchyard exists" ||
            fail "no user switchyard"
        [ "$(stat -c %U /var/lib/switchyard)" = switchyard ] &&
            pass "/var/lib/switchyard owned by switchyard" ||
            fail "/var/lib/switchyard owner $(stat -c %U /var/lib/switchyard)"
        apt-get purge -y switchyard switchyard-dev >"$work.purge.log" 2>&1 &&
            pass "purged" || { cat "$work.purge.log"; fail "purge"; }
        # Debian policy: purge leaves nothing but the system user.
        for p in /usr/bin/switchyard /etc/switchyard /var/lib/switchyard \
                 /usr/share/switchyard /usr/lib/systemd/system/switchyard.service \
                 /usr/share/doc/switchyard; do
            [ ! -e "$p" ] && pass "purge removed $p" || fail "purge left $p"
        done
        getent passwd switchyard >/dev/null && pass "user switchyard kept (policy)" ||
            fail "user switchyard removed"
    else
        cat "$work.apt.log"
        fail "apt-get install $(basename "$deb")"
    fi
else
    echo "skip: install/purge test (needs root and CI set)"
fi

echo "packaging: $((fails == 0 ? 1 : 0)) passed, $((fails > 0 ? 1 : 0)) failed"
[ "$fails" -eq 0 ]
