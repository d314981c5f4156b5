#!/bin/sh
# s3-put through tests/faultproxy.js, which resets connections, answers
# 503 SlowDown and 500, stalls mid-body and cuts answers short: uploads
# still complete, read back byte-identical with the AWS CLI, with no
# duplicate or partial objects; retries that run out exit 75; a part
# refused for good aborts its multipart upload and exits 1.  (s3rver does
# not implement AbortMultipartUpload: it answers the DELETE ?uploadId= as
# a DeleteObject and keeps the parts; so the abort is checked as a request
# seen by the proxy.)
. "${CT_TOP:-.}/tests/lib.sh"
new_bucket
aws=/usr/bin/aws

# proxy NAME FAULTS EVERY: starts a fault proxy; its URL is in $proxy.
proxy() {
	node "$top/tests/faultproxy.js" "$AWS_ENDPOINT_URL" "$tmp/$1.port" "$2" "$3" 2>"$tmp/$1.err" &
	pids="${pids-} $!"
	i=0
	until [ -s "$tmp/$1.port" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "Bail out! the fault proxy did not start"; exit 1; }
		sleep 0.1
	done
	proxy="http://127.0.0.1:$(cat "$tmp/$1.port")"
}
trap 'for p in ${pids-}; do kill $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
# readback PREFIX DIR: downloads every object under PREFIX with the AWS CLI.
readback() {
	$aws --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --recursive --quiet "s3://$bucket/$1" "$2"
}
keys() {
	$aws --endpoint-url "$AWS_ENDPOINT_URL" s3api list-objects-v2 --bucket "$bucket" \
		--prefix "$1" --query "Contents[].Key" --output text | tr "\t" "\n" | grep -v "^None$" | sort
}
export AWS_MAX_ATTEMPTS=8

mkdir small
i=0
while [ $i -lt 40 ]; do head -c $((3000 + i * 97)) /dev/urandom >"small/f$i.bin"; i=$((i + 1)); done
proxy p1 reset,slowdown,internal,midreply,stall 3
exits 0 "40 files upload through resets, 503s, 500s, cut answers and stalls" \
	s3-put --endpoint "$proxy" --read-timeout 2 --jobs 4 small/* "s3://$bucket/small/"
ok "the proxy did inject faults" grep -q '^reset ' "$tmp/p1.port.log"
readback small/ small.back
ok "every object reads back byte-identical with the AWS CLI" diff -r small small.back
is "$(keys small/ | wc -l | tr -d ' ')" 40 "no duplicate or extra objects"

head -c 23000000 /dev/urandom >big
proxy p2 reset,stall,slowdown 3
exits 0 "a multipart upload completes through faults (failed parts retried)" \
	s3-put --endpoint "$proxy" --read-timeout 2 --part-size 5M --jobs 3 big "s3://$bucket/big/"
ok "some parts met a fault" grep -q 'partNumber=' "$tmp/p2.port.log"
readback big/ big.back
ok "the multipart object reads back byte-identical with the AWS CLI" cmp big big.back/big
is "$(keys big/)" "big/big" "exactly one object"

proxy p3 slowdown 1
exits 75 "throttling that outlives the retries is a temporary failure" \
	env AWS_MAX_ATTEMPTS=3 s3-put --endpoint "$proxy" small/f1.bin "s3://$bucket/throttled/"
grep_err "SlowDown.*after 3 attempts" "the message names SlowDown and the attempts"

proxy p4 denypart2 1
exits 1 "a part refused for good is a permanent failure" \
	s3-put --endpoint "$proxy" --part-size 5M --jobs 2 big "s3://$bucket/denied/"
grep_err "AccessDenied" "the message names S3's error code"
ok "the multipart upload is aborted" grep -Eq '^pass DELETE .*uploadId=' "$tmp/p4.port.log"
is "$(keys denied/)" "" "no object is left"

# SIGTERM in the middle of a multipart upload from a pipe: the upload is
# aborted, nothing is left, and s3-put dies of the signal.
proxy p5 none 1000000
mkfifo fifo
s3-put --endpoint "$proxy" --part-size 5M --jobs 1 - "s3://$bucket/cut/obj" <fifo >/dev/null 2>cut.err &
pid=$!
exec 3>fifo
head -c 11000000 /dev/urandom >&3
part2_sent() { grep -q '^pass PUT .*partNumber=2&' "$tmp/p5.port.log"; }
i=0
until part2_sent || [ $i -ge 150 ]; do i=$((i + 1)); sleep 0.1; done
kill -TERM $pid
wait $pid
is "$?" 143 "s3-put dies of the SIGTERM it was sent"
exec 3>&-
ok "the interrupted multipart upload is aborted" grep -Eq '^pass DELETE .*uploadId=' "$tmp/p5.port.log"
is "$(keys cut/)" "" "no object is left"

# The bucket's objects go, so that repeated runs do not fill the disk.
$aws --endpoint-url "$AWS_ENDPOINT_URL" s3 rm --quiet --recursive "s3://$bucket/" || true

done_testing
