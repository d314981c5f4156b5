#!/bin/sh
# s3-put against the local S3 server: files, standard input, multipart,
# spool directories, credentials from ~/.aws, and the exit codes and
# messages of failures.  Objects are read back and compared byte for byte.
. "${CT_TOP:-.}/tests/lib.sh"
new_bucket

# get KEY FILE: downloads s3://$bucket/KEY into FILE.
get() { s3curl GET "/$bucket/$1" -o "$2" -f; }
# keys PREFIX: the bucket's keys under PREFIX, one per line, sorted.
keys() {
	s3curl GET "/$bucket?list-type=2&prefix=$(printf %s "$1" | sed 's,/,%2F,g')" |
		grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' | sort
}

exits 0 "--help exits 0" s3-put --help
cp "$tmp/.out" help.out
ok "--help prints the usage on stdout" grep -q '^usage: s3-put' help.out
exits 0 "--version exits 0" s3-put --version
exits 2 "an unknown option is a usage error" s3-put --bogus a "s3://$bucket/"
exits 2 "a missing destination is a usage error" s3-put a
exits 2 "a destination that is not s3:// is a usage error" s3-put a /tmp/x/
grep_err "invalid destination '/tmp/x/'" "the usage error names the destination"
exits 2 "a part size under 5 MiB is a usage error" s3-put --part-size 1M a "s3://$bucket/"
exits 2 "stdin needs a key, not a prefix" s3-put - "s3://$bucket/in/"

# Files to a prefix, each under its base name, listed on stdout.
mkdir src
printf 'customer_id\n1\n' >src/a.csv
printf 'customer_id\n2\n' >src/b.csv
printf 'x y\n' >"src/with space+dollar\$.csv"
exits 0 "files upload to a prefix" s3-put src/a.csv src/b.csv "src/with space+dollar\$.csv" "s3://$bucket/in/"
is "$(sort "$tmp/.out")" "$(printf 's3://%s/in/%s\n' "$bucket" a.csv "$bucket" b.csv "$bucket" "with space+dollar\$.csv" | sort)" \
	"each uploaded object is printed as s3://BUCKET/KEY"
grep_err "uploaded 3 files" "a summary line goes to stderr"
get in/a.csv a.back && get "in/with%20space%2Bdollar%24.csv" sp.back
ok "an object reads back byte-identical" cmp src/a.csv a.back
ok "a key with a space, + and \$ reads back byte-identical" cmp "src/with space+dollar\$.csv" sp.back
printf 'pct\n' >"src/100%41.csv"
exits 0 "a key with a literal %41 uploads" s3-put "src/100%41.csv" "s3://$bucket/in/"
get "in/100%2541.csv" pct.back
ok "the key is taken literally, not decoded" cmp "src/100%41.csv" pct.back
exits 0 "one file to a destination without a final / takes that key" s3-put src/b.csv "s3://$bucket/exact/name.csv"
is "$(keys exact/)" "exact/name.csv" "the object has exactly the given key"

# Standard input: small (one PUT), empty, and larger than a part (multipart).
printf 'hello\n' | s3-put - "s3://$bucket/stdin/small" >/dev/null 2>&1
get stdin/small small.back
is "$(cat small.back)" "hello" "a small standard input is uploaded"
exits 0 "an empty standard input uploads an empty object" sh -c ": | s3-put - 's3://$bucket/stdin/empty'"
get stdin/empty empty.back
ok "the empty object is empty" test -f empty.back -a ! -s empty.back
head -c 12000000 /dev/urandom >big
exits 0 "standard input longer than a part goes in parts" sh -c "s3-put --part-size 5M --jobs 3 - 's3://$bucket/stdin/big' <big"
get stdin/big big.back
ok "the multipart object from stdin reads back byte-identical" cmp big big.back
exits 0 "a file larger than a part goes in parts" s3-put --part-size 5M big "s3://$bucket/file/"
get file/big big.back2
ok "the multipart file reads back byte-identical" cmp big big.back2
head -c 5242880 /dev/urandom >exact
exits 0 "a file of exactly one part goes in one PUT" s3-put --part-size 5M exact "s3://$bucket/file/"
get file/exact exact.back
ok "it reads back byte-identical" cmp exact exact.back

# A named pipe is read as a stream, like standard input, in parts if long.
mkfifo pipe
head -c 7000000 big >pipe.expect
cat pipe.expect >pipe &
exits 0 "a named pipe is uploaded as a stream" s3-put --part-size 5M pipe "s3://$bucket/pipe/obj"
wait
get pipe/obj pipe.back
ok "the piped object reads back byte-identical" cmp pipe.expect pipe.back

# Many files in one run: 300 objects, all there.
mkdir many
i=0
while [ $i -lt 300 ]; do echo "$i" >"many/f$i.csv"; i=$((i + 1)); done
exits 0 "300 files upload in one run" s3-put --jobs 8 many/* "s3://$bucket/many/"
is "$(keys many/ | wc -l | tr -d ' ')" 300 "all 300 objects exist"

# Spool: complete files go and are removed; dot and temporary names stay.
mkdir spool done
printf 'a\n' >spool/customer_1.csv
printf 'b\n' >spool/customer_2.csv
printf 'c\n' >spool/.customer_3.csv
printf 'd\n' >spool/customer_4.csv.tmp
exits 0 "--spool uploads the spool" s3-put --spool spool "s3://$bucket/spool/"
is "$(keys spool/)" "$(printf 'spool/customer_1.csv\nspool/customer_2.csv')" "only complete files are uploaded"
is "$(ls -A spool | sort)" "$(printf '.customer_3.csv\ncustomer_4.csv.tmp')" "uploaded files are removed, others stay"
printf 'e\n' >spool/customer_5.csv
exits 0 "--done-dir moves uploaded files" s3-put --spool spool --done-dir done "s3://$bucket/spool/"
is "$(ls done)" "customer_5.csv" "the uploaded file is in the done directory"
exits 2 "--watch without --spool is a usage error" s3-put --watch a "s3://$bucket/"

# Failures: permanent ones exit 1 with S3's code, temporary ones 75.
exits 1 "a missing bucket is a permanent failure" s3-put src/a.csv "s3://no-such-bucket-$$/x/"
grep_err "NoSuchBucket" "the message names S3's error code"
exits 1 "a missing file is a permanent failure" s3-put src/nope.csv "s3://$bucket/x/"
grep_err "cannot upload 'src/nope.csv'.*No such file" "the message names the file"
exits 1 "a wrong secret is a permanent failure" env AWS_SECRET_ACCESS_KEY=wrong-secret-value s3-put src/a.csv "s3://$bucket/x/"
grep_err "SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied" "the message names S3's error code"
if grep -q wrong-secret-value "$tmp/.err" "$tmp/.out"; then fail "the secret is not printed"; else pass "the secret is not printed"; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
exits 75 "an unreachable endpoint is a temporary failure" env AWS_MAX_ATTEMPTS=2 s3-put --endpoint "http://127.0.0.1:$port" src/a.csv "s3://$bucket/x/"
grep_err "after 2 attempts" "the message says the retries ran out"
exits 1 "no credentials at all is a failure" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$tmp/nohome" s3-put src/a.csv "s3://$bucket/x/"
grep_err "no credentials" "the message says what is missing"

# Credentials and endpoint from a profile in ~/.aws, like the AWS CLI.
mkdir -p home/.aws
cat >home/.aws/credentials <<EOF
[default]
aws_access_key_id = nobody
aws_secret_access_key = nothing

[ct]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
EOF
cat >home/.aws/config <<EOF
[profile ct]
region = $AWS_REGION
endpoint_url = $AWS_ENDPOINT_URL
EOF
exits 0 "AWS_PROFILE selects credentials and endpoint from ~/.aws" \
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_ENDPOINT_URL HOME="$tmp/home" AWS_PROFILE=ct \
	s3-put src/a.csv "s3://$bucket/profile/"
is "$(keys profile/)" "profile/a.csv" "the object was uploaded with the profile's credentials"
exits 1 "an unknown profile is an error" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$tmp/home" AWS_PROFILE=nope s3-put src/a.csv "s3://$bucket/x/"
grep_err "profile 'nope' not found" "the message names the profile"

# The big objects go, so that repeated runs do not fill the disk.
for k in stdin/big file/big file/exact pipe/obj; do s3curl DELETE "/$bucket/$k" -o /dev/null; done

echo quiet >quiet.txt
exits 0 "-q uploads" s3-put -q quiet.txt "s3://$bucket/q/"
is "$(cat "$tmp/.err")" "" "-q prints no summary line"
is "$(s3curl GET "/$bucket/q/quiet.txt")" quiet "and the object is there"

done_testing
