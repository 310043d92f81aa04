#!/usr/bin/env bash
# Writes a data folder with this build's store schemas and some content, as an upgrade fixture:
#   scripts/make-upgrade-fixture.sh tests/fixtures/data-schema-N
# Run it once per released schema version and commit the folder; tests/Postern.Host.Tests/Upgrade
# opens every fixture with the current build and checks that it migrates and keeps its content.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: make-upgrade-fixture.sh FOLDER}
[ -e "$target" ] && { echo "$target exists" >&2; exit 1; }
dotnet build src/Postern.Host -c Release -nologo -v q >/dev/null
p() { dotnet src/Postern.Host/bin/Release/net10.0/postern.dll "$@" --data "$target"; }
p reseller add "Fixture Resale" >/dev/null
p customer add "Fixture Customer" --reseller "Fixture Resale" >/dev/null
p domain add fixture.example --customer "Fixture Customer" --kind hosted >/dev/null
p domain add relay.fixture.example --customer "Fixture Customer" --kind relay --relay-host mx.customer.example:25 >/dev/null
p domain alias add fixture.example fixture.test >/dev/null
p account add alice@fixture.example --password 'fixture-password' --name "Alice Fixture" --quota 100 >/dev/null
p account add bob@fixture.example --password 'fixture-password' >/dev/null
p alias add sales@fixture.example alice@fixture.example >/dev/null
p list add team@fixture.example --name Team >/dev/null
p list member add team@fixture.example alice@fixture.example >/dev/null
p list member add team@fixture.example bob@fixture.example >/dev/null
printf 'From: sender@remote.example\r\nTo: team@fixture.example\r\nSubject: fixture message\r\n\r\nKept across upgrades.\r\n' \
  | p deliver --from sender@remote.example --to team@fixture.example >/dev/null
rm -f "$target"/*.db-wal "$target"/*.db-shm
rm -rf "$target/tls"
echo "fixture written to $target"
