#!/usr/bin/env bash
# Makes a throwaway PKI for the fake Hubject in DIR (tests, benchmarks, trying forwarding by hand):
#   ca.pem / ca.key                 the CA both sides trust (stands in for Hubject's private root)
#   server.pem / server.key         the fake Hubject's certificate: localhost and 127.0.0.1
#   client.pem / client.key         the ledger's client certificate, signed by the CA
#   stranger.pem / stranger.key     a client certificate from another CA: its handshake must fail
#   rogue-server.pem / .key         a server certificate for localhost from that other CA: the
#                                   ledger must refuse it (fake_hubject.py mode tls_unknown_ca)
# EC P-256 keys, valid 30 days.
set -euo pipefail
dir=${1:?usage: make-test-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 30 -subj "/CN=error-ledger test CA" 2>/dev/null
key server.key
openssl req -new -key server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile server.ext 2>/dev/null
key client.key
openssl req -new -key client.key -out client.csr -subj "/CN=DE*A36 ledger" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30 -extfile client.ext 2>/dev/null
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 30 -subj "/CN=some other CA" 2>/dev/null
key stranger.key
openssl req -new -key stranger.key -out stranger.csr -subj "/CN=stranger" 2>/dev/null
openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out stranger.pem -days 30 -extfile client.ext 2>/dev/null
key rogue-server.key
openssl req -new -key rogue-server.key -out rogue-server.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in rogue-server.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out rogue-server.pem -days 30 -extfile server.ext 2>/dev/null
rm -f ./*.csr ./*.ext ./*.srl
