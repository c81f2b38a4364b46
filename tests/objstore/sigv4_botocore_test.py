#!/usr/bin/python3
"""Random S3 requests signed by our SigV4 (sigv4_sign_tool) and by botocore (Debian's
python3-botocore, an independent implementation) must get the same signature.

Usage: sigv4_botocore_test.py SIGN_TOOL [COUNT]"""
import hashlib
import json
import random
import subprocess
import sys
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALPHABET = "abcXYZ019-._~ !$&'()*+,;=:@/%?#é世"


def text(rng, lo, hi):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))


def random_request(rng):
    method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
    path = "/bucket-" + str(rng.randint(0, 9)) + "/" + text(rng, 0, 30)
    query = {}
    for _ in range(rng.randint(0, 4)):
        query[text(rng, 1, 8)] = text(rng, 0, 10)
    headers = [["Host", "127.0.0.1:%d" % rng.randint(1, 65535)],
               ["x-amz-date", "2026%02d%02dT%02d%02d%02dZ" % (rng.randint(1, 12), rng.randint(1, 28),
                                                            rng.randint(0, 23), rng.randint(0, 59),
                                                            rng.randint(0, 59))]]
    payload = hashlib.sha256(text(rng, 0, 50).encode()).hexdigest()
    headers.append(["x-amz-content-sha256", payload])
    for i in range(rng.randint(0, 3)):
        value = "  ".join(text(rng, 1, 6).replace(" ", "") for _ in range(rng.randint(1, 3)))
        headers.append([rng.choice(["X-Amz-Meta-", "x-amz-meta-", "Content-"]) + "h%d" % i,
                        " " * rng.randint(0, 2) + value + " " * rng.randint(0, 2)])
    if rng.random() < 0.3:
        headers.append(["Range", "bytes=%d-%d" % (rng.randint(0, 9), rng.randint(10, 99))])
    return {
        "method": method, "path": path, "query": [[k, v] for k, v in query.items()],
        "headers": headers, "payload_sha256": payload,
        "access_key_id": "AK" + str(rng.randint(0, 10**9)), "secret_access_key": text(rng, 10, 40),
        "region": rng.choice(["us-east-1", "eu-west-3", "ap-southeast-2"]),
        "amz_date": headers[1][1],
    }


def botocore_signature(r):
    url_query = "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~") for k, v in r["query"])
    url = "http://" + r["headers"][0][1] + quote(r["path"], safe="/-_.~") + ("?" + url_query if url_query else "")
    request = AWSRequest(method=r["method"], url=url, headers=dict(r["headers"]))
    auth = S3SigV4Auth(Credentials(r["access_key_id"], r["secret_access_key"]), "s3", r["region"])
    request.context["timestamp"] = r["amz_date"]
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


def main():
    tool = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    requests = [random_request(rng) for _ in range(count)]
    ours = json.loads(subprocess.run([tool], input=json.dumps(requests), capture_output=True,
                                     text=True, check=True).stdout)
    failures = [(r, s) for r, s in zip(requests, ours) if botocore_signature(r) != s]
    for r, s in failures[:3]:
        print("MISMATCH (seed %d): %s\n  ours %s\n  botocore %s" % (seed, json.dumps(r), s, botocore_signature(r)))
    print("%d of %d random requests signed alike (seed %d)" % (count - len(failures), count, seed))
    sys.exit(1 if failures or len(ours) != count else 0)


if __name__ == "__main__":
    main()
