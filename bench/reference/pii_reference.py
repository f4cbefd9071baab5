#!/usr/bin/env python3
"""Python reference of synthforge's PII scan, for bench/pii_bench.sh: the same regular expressions
(read out of src/privacy/scanner.cpp, so the two cannot drift apart), run with Python's `re` one
pattern at a time as Python PII tools do, and the same validators (Luhn and issuer prefixes,
IBAN length and mod-97, SSN rules, inet_pton, Base58Check, bech32/bech32m, e-mail syntax).

What it leaves out: libphonenumber (digit clusters that pass the NANP/length prefilter count as
phone candidates, unvalidated), context-word scoring, EIP-55 (mixed-case Ethereum addresses are
accepted) and overlap resolution. It is a throughput baseline, not a second implementation.

  pii_reference.py FILE [--mb N]   one document per line; prints MB/s and counts per type
"""
import argparse
import hashlib
import ipaddress
import pathlib
import re
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_patterns():
    src = (ROOT / "src" / "privacy" / "scanner.cpp").read_text()
    body = src[src.index("const BuiltinPattern kBuiltins[]"):]
    body = body[:body.index("};")]
    out = []
    # Each entry: {Rule::NAME, kTYPE, R"(...)" R"(...)"}: adjacent raw strings concatenate.
    for rule, pieces in re.findall(r'\{Rule::(\w+),\s*k\w+,((?:\s*R"\(.*?\)")+)\s*\}', body, re.S):
        rx = "".join(re.findall(r'R"\((.*?)\)"', pieces, re.S))
        out.append((rule, re.compile(rx, re.ASCII)))
    return out


def luhn(d):
    total = 0
    for i, ch in enumerate(reversed(d)):
        v = int(ch)
        if i % 2:
            v = v * 2 - 9 if v * 2 > 9 else v * 2
        total += v
    return total % 10 == 0


def card_brand(d):
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if 2200 <= p4 <= 2204 or p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 3528 <= p4 <= 3589 or p2 in (62, 81):
        return n >= 16
    if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):
        return n >= 14
    return p2 in (50, 56, 57, 58, 63, 67)


IBAN_LENGTHS = dict(AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BI=27, BR=29, BY=28, CH=21,
                    CR=22, CY=28, CZ=24, DE=22, DJ=27, DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FK=18, FO=18,
                    FR=27, GB=22, GE=22, GI=23, GL=18, GR=27, GT=28, HR=21, HU=28, IE=22, IL=23, IQ=23, IS=26,
                    IT=27, JO=30, KW=30, KZ=20, LB=28, LC=32, LI=21, LT=20, LU=20, LV=21, LY=25, MC=27, MD=24,
                    ME=22, MK=19, MN=20, MR=27, MT=31, MU=30, NI=28, NL=18, NO=15, OM=23, PK=24, PL=28, PS=29,
                    PT=25, QA=29, RO=24, RS=22, RU=33, SA=24, SC=31, SD=18, SE=24, SI=19, SK=24, SM=27, SO=23,
                    ST=25, SV=28, TL=23, TN=24, TR=26, UA=29, VA=22, VG=24, XK=20)


def iban_prefix(s):
    """The IBAN at the start of a regex match (which may run on into the next word), or None."""
    want = IBAN_LENGTHS.get(s[:2])
    if not want:
        return None
    compact = ""
    for ch in s:
        if ch != " ":
            compact += ch
        if len(compact) == want:
            break
    if len(compact) != want:
        return None
    num = int("".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4]))
    return compact if num % 97 == 1 else None


def ssn(d):
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    return not (area in (0, 666) or area >= 900 or group == 0 or serial == 0 or len(set(d)) == 1 or
                d in ("078051120", "219099999", "457555462", "123456789"))


EMAIL_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$", re.ASCII)


def email(a):
    local, _, domain = a.partition("@")
    if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    labels = domain.split(".")
    return len(labels) > 1 and all(EMAIL_LABEL.match(x) for x in labels) and labels[-1].isalpha() and \
        len(labels[-1]) >= 2


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(a):
    n = 0
    for ch in a:
        i = B58.find(ch)
        if i < 0:
            return False
        n = n * 58 + i
    raw = n.to_bytes(25, "big") if n < 1 << 200 else b""
    if len(raw) != 25 or raw[0] not in (0, 5):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32(a):
    if a.lower() != a and a.upper() != a:
        return False
    a = a.lower()
    data = [BECH32.find(c) for c in a[3:]]
    if min(data) < 0 or len(data) < 7:
        return False
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in [3, 3, 0, 2, 3] + data:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk == (1 if data[0] == 0 else 0x2BC830A3)


def scan(text, patterns, counts):
    for rule, rx in patterns:
        for m in rx.finditer(text):
            s = m.group(0)
            kind = None
            if rule == "email":
                kind = "EMAIL" if email(s) else None
            elif rule == "url_credentials":
                kind = "URL_CREDENTIALS"
            elif rule == "ipv4":
                try:
                    ipaddress.IPv4Address(s)
                    kind = "IP_ADDRESS"
                except ValueError:
                    pass
            elif rule == "ipv6":
                try:
                    ipaddress.IPv6Address(s.split("%")[0])
                    kind = "IP_ADDRESS" if any(c.isdigit() for c in s) else None
                except ValueError:
                    pass
            elif rule == "mac":
                kind = "MAC_ADDRESS"
            elif rule == "credit_card":
                d = re.sub(r"\D", "", s)
                kind = "CREDIT_CARD" if 13 <= len(d) <= 19 and luhn(d) and card_brand(d) else None
            elif rule == "iban":
                kind = "IBAN" if iban_prefix(s) else None
            elif rule == "ssn":
                kind = "US_SSN" if len(s) == 11 and ssn(re.sub(r"\D", "", s)) else None
            elif rule == "phone_cluster":
                d = re.sub(r"\D", "", s)
                if 10 <= len(d) <= 14 and any(d[i] >= "2" and d[i + 3] >= "2" for i in range(len(d) - 9)):
                    kind = "PHONE"
            elif rule == "bitcoin_base58":
                kind = "CRYPTO_ADDRESS" if base58check(s) else None
            elif rule == "bitcoin_bech32":
                kind = "CRYPTO_ADDRESS" if bech32(s) else None
            elif rule == "ethereum":
                kind = "CRYPTO_ADDRESS"
            elif rule == "secret_keyword":
                kind = None  # the token after the keyword: not modelled here
            else:
                kind = "SECRET"
            if kind:
                counts[kind] = counts.get(kind, 0) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--mb", type=float, default=0, help="scan only the first N MB")
    a = ap.parse_args()
    patterns = load_patterns()
    docs, size = [], 0
    with open(a.file, encoding="utf-8") as f:
        for line in f:
            docs.append(line.rstrip("\n"))
            size += len(line.encode()) - 1
            if a.mb and size >= a.mb * 1e6:
                break
    counts = {}
    t0 = time.perf_counter()
    for d in docs:
        scan(d, patterns, counts)
    secs = time.perf_counter() - t0
    print(f"python re reference: {len(docs)} documents, {size / 1e6:.1f} MB in {secs:.2f} s = "
          f"{size / 1e6 / secs:.1f} MB/s ({len(patterns)} patterns);",
          " ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
