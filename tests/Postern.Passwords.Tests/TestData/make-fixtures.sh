#!/usr/bin/env bash
# Regenerates fixtures.tsv with independent tools (needs whois, dovecot-core, python3-argon2).
# Every run makes new salts, so the file changes completely; the unit tests accept any output.
# scheme<TAB>password<TAB>hash ; passwords chosen without tabs
out="$(dirname "$0")/fixtures.tsv"
{
echo "# Hashes made by independent tools (mkpasswd from Debian whois, doveadm pw from dovecot-core 2.3,"
echo "# python3-argon2 21.1 over libargon2). Columns: tool/scheme, password, stored hash. Tab separated."
for pw in 'password' 'Tr0ub4dor&3' 'pässwörd €' '' 'a very long passphrase that goes on and on for more than seventy-two bytes of bcrypt input'; do
  [ -n "$pw" ] || continue
  echo -e "mkpasswd-sha-512\t$pw\t$(mkpasswd -m sha-512 "$pw")"
  echo -e "mkpasswd-sha-512-rounds\t$pw\t$(mkpasswd -m sha-512 -R 12345 "$pw")"
  echo -e "mkpasswd-sha-256\t$pw\t$(mkpasswd -m sha-256 "$pw")"
  echo -e "mkpasswd-sha-256-rounds\t$pw\t$(mkpasswd -m sha-256 -R 1000 "$pw")"
  echo -e "mkpasswd-md5crypt\t$pw\t$(mkpasswd -m md5crypt "$pw")"
  echo -e "mkpasswd-bcrypt\t$pw\t$(mkpasswd -m bcrypt -R 5 "$pw")"
  echo -e "mkpasswd-bcrypt-a\t$pw\t$(mkpasswd -m bcrypt-a -R 4 "$pw")"
  for s in SHA512-CRYPT SHA256-CRYPT MD5-CRYPT BLF-CRYPT SSHA512 SSHA256 SSHA SHA512 SHA256 SHA SHA512.HEX SSHA512.HEX PLAIN-MD5 LDAP-MD5 SMD5 PBKDF2 ARGON2ID ARGON2I PLAIN CLEAR CLEARTEXT MD5 PLAIN.B64; do
    echo -e "doveadm-$s\t$pw\t$(doveadm pw -s $s -p "$pw")"
  done
  echo -e "doveadm-SHA512-CRYPT-rounds\t$pw\t$(doveadm pw -s SHA512-CRYPT -r 7000 -p "$pw")"
  echo -e "doveadm-PBKDF2-rounds\t$pw\t$(doveadm pw -s PBKDF2 -r 1234 -p "$pw")"
  for t in argon2id argon2i argon2d; do
    echo -e "python-argon2-$t\t$pw\t$(/usr/bin/python3 -c "
import sys, argon2
from argon2.low_level import hash_secret, Type
t={'argon2id':Type.ID,'argon2i':Type.I,'argon2d':Type.D}['$t']
print(hash_secret(sys.argv[1].encode(), b'somesaltsomesalt', time_cost=2, memory_cost=256, parallelism=2, hash_len=32, type=t).decode())" "$pw")"
  done
done
} > $out
wc -l $out
# Odd Argon2 shapes: memory not a multiple of 4 x lanes, 3 lanes, a 24-byte tag, a 9-byte salt.
for t in argon2id argon2i; do
  /usr/bin/python3 -c "
import sys
from argon2.low_level import hash_secret, Type
t={'argon2id':Type.ID,'argon2i':Type.I}[sys.argv[1]]
print(sys.argv[1] and 'python-argon2-'+sys.argv[1], 'Grüße 🙂', hash_secret('Grüße 🙂'.encode(), b'ninebytes', time_cost=3, memory_cost=100, parallelism=3, hash_len=24, type=t).decode(), sep='\t')" $t >> "$out"
done
