#!/bin/sh
# Makes mxconf's DEVELOPMENT signing chain with the openssl command line:
#   root CA (RSA 3072) -> intermediate CA (RSA 2048) -> signer leaves (RSA 2048 and ECDSA P-256).
# The outputs are committed for the tests and the embedded demo. NEVER use them in production:
# anyone can read signer.key, so a profile signed with it proves nothing (see README.md).
# The CA private keys are thrown away at the end, so nobody can mint more certificates under this
# root; re-running the script makes a completely new chain.
#
# Usage: certs/make-dev-chain.sh [OUTPUT_DIR]      (default: the directory of this script)
set -eu

out=${1:-$(dirname "$0")}
days=3650   # ten years, so the committed files do not expire under the tests
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection, codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF

subject="/C=XX/O=mxconf development (NOT FOR PRODUCTION)"

# Root CA, self-signed.
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$work/root.key"
openssl req -new -x509 -sha256 -days "$days" -key "$work/root.key" \
    -subj "$subject/CN=mxconf development root CA" \
    -config "$work/ext.cnf" -extensions ca -out "$out/root.pem"

# Intermediate CA, signed by the root.
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/intermediate.key"
openssl req -new -key "$work/intermediate.key" \
    -subj "$subject/CN=mxconf development intermediate CA" -out "$work/intermediate.csr"
openssl x509 -req -sha256 -days "$days" -in "$work/intermediate.csr" \
    -CA "$out/root.pem" -CAkey "$work/root.key" -CAcreateserial -CAserial "$work/root.srl" \
    -extfile "$work/ext.cnf" -extensions intermediate -out "$out/intermediate.pem"

# Signer leaves, signed by the intermediate: $1 = file stem, $2 = genpkey options, $3 = CN.
leaf() {
    # shellcheck disable=SC2086 # $2 is a list of options on purpose
    openssl genpkey -quiet $2 -out "$out/$1.key"
    openssl req -new -key "$out/$1.key" -subj "$subject/CN=$3" -out "$work/$1.csr"
    openssl x509 -req -sha256 -days "$days" -in "$work/$1.csr" \
        -CA "$out/intermediate.pem" -CAkey "$work/intermediate.key" \
        -CAcreateserial -CAserial "$work/intermediate.srl" \
        -extfile "$work/ext.cnf" -extensions signer -out "$out/$1.pem"
    chmod 600 "$out/$1.key"
}
leaf signer "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" "mxconf development profile signer"
leaf signer-ec "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" "mxconf development profile signer (ECDSA)"

# chain.pem: the intermediates a signer needs (what --chain / `chain =` take).
cp "$out/intermediate.pem" "$out/chain.pem"
# fullchain.pem: signer first, then the chain, as certbot writes it (what --cert alone takes).
cat "$out/signer.pem" "$out/intermediate.pem" > "$out/fullchain.pem"

openssl verify -CAfile "$out/root.pem" -untrusted "$out/chain.pem" \
    "$out/signer.pem" "$out/signer-ec.pem"
