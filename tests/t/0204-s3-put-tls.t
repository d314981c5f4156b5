#!/bin/sh
# s3-put verifies TLS: an endpoint whose certificate is not trusted is a
# permanent failure naming the certificate problem; --ca-bundle (or
# AWS_CA_BUNDLE) trusts it.  The endpoint is tests/faultproxy.js speaking
# HTTPS in front of the local S3 server.
. "${CT_TOP:-.}/tests/lib.sh"
new_bucket

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem >/dev/null 2>&1 ||
	{ echo "Bail out! cannot make a certificate"; exit 1; }
FAULTPROXY_CERT=cert.pem FAULTPROXY_KEY=key.pem \
	node "$top/tests/faultproxy.js" "$AWS_ENDPOINT_URL" "$tmp/tls.port" none 1 2>tls.err &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
until [ -s tls.port ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "Bail out! the TLS proxy did not start"; exit 1; }
	sleep 0.1
done
ep="https://127.0.0.1:$(cat tls.port)"
printf 'a\n' >a.csv

exits 1 "an untrusted certificate is a permanent failure" s3-put --endpoint "$ep" a.csv "s3://$bucket/tls/"
grep_err "certificate" "the message names the certificate problem"
exits 0 "--ca-bundle trusts the endpoint" s3-put --endpoint "$ep" --ca-bundle cert.pem a.csv "s3://$bucket/tls/"
exits 0 "AWS_CA_BUNDLE trusts the endpoint" env AWS_CA_BUNDLE="$tmp/cert.pem" s3-put --endpoint "$ep" a.csv "s3://$bucket/tls2/"
s3curl GET "/$bucket/tls/a.csv" -o back.csv
ok "the object came through TLS intact" cmp a.csv back.csv
exits 1 "a missing CA bundle is an error" s3-put --endpoint "$ep" --ca-bundle nope.pem a.csv "s3://$bucket/tls/"

done_testing
