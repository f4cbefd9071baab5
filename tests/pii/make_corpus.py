#!/usr/bin/env python3
"""Generates a labelled PII test corpus for `synthforge scan` (tests/pii/pii_corpus_test.py).

Every value is made here from the rules it must satisfy -- Luhn and issuer prefixes for cards,
ISO 13616 lengths and mod-97 for IBANs, the SSA's rules for SSNs, Base58Check / bech32 /
bech32m / EIP-55 checksums for crypto addresses, public address ranges for IPs -- and is
dropped into English filler with and without context words. Alongside each positive template
sit look-alikes that must NOT be found: versions and section numbers, order ids, dates,
times, ISBNs, timestamps, Luhn-failing cards, wrong check digits, invalid SSN areas, private
IPs, documentation values (example.com, 555-01xx, AKIA...EXAMPLE), placeholder passwords.

  make_corpus.py OUT_DIR [--rows 3000] [--seed 1]
      writes OUT_DIR/corpus.jsonl ({"id", "text"}) and OUT_DIR/truth.jsonl ({"id", "entities":
      [{"type", "start", "end", "text"}]}, byte offsets into the UTF-8 text)
  make_corpus.py --text-mb 100 FILE [--pii-rate 0.05]
      plain text for bench/pii_bench.sh: one ~1.5 kB document a line, a few percent with PII
"""
import argparse
import base64
import hashlib
import json
import os
import random
import string
import sys

# ---- checksums -------------------------------------------------------------------------


def luhn_digit(payload):
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to the right
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(digits):
    return luhn_digit(digits[:-1]) == digits[-1]


IBAN_FORMATS = {  # country: BBAN as (count, kind) runs; n = digit, a = upper-case letter, c = either
    "DE": [(18, "n")], "GB": [(4, "a"), (14, "n")], "FR": [(10, "n"), (11, "c"), (2, "n")],
    "NL": [(4, "a"), (10, "n")], "ES": [(20, "n")], "IT": [(1, "a"), (10, "n"), (12, "c")],
    "CH": [(17, "n")], "BE": [(12, "n")], "AT": [(16, "n")], "PL": [(24, "n")], "SE": [(20, "n")],
    "NO": [(11, "n")], "IE": [(4, "a"), (14, "n")], "PT": [(21, "n")], "DK": [(14, "n")],
}
IBAN_LENGTH = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "BE": 16, "AT": 20,
               "PL": 28, "SE": 24, "NO": 15, "IE": 22, "PT": 25, "DK": 18}


def iban_check(country, bban):
    rearranged = bban + country + "00"
    num = "".join(str(int(ch, 36)) for ch in rearranged)
    return "%02d" % (98 - int(num) % 97)


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check(version, payload):
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def segwit_address(version, program):
    data, acc, bits = [version], 0, 0
    for b in program:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    const = 1 if version == 0 else 0x2BC830A3
    hrp = [ord(c) >> 5 for c in "bc"] + [0] + [ord(c) & 31 for c in "bc"]
    pm = bech32_polymod(hrp + data + [0] * 6) ^ const
    data += [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return "bc1" + "".join(BECH32[d] for d in data)


# Keccak-256 (the pre-standard padding Ethereum uses), for EIP-55 checksummed addresses.
KECCAK_RC = [0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
             0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
             0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
             0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
             0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
             0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008]
KECCAK_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56],
              [27, 20, 39, 8, 14]]
M64 = (1 << 64) - 1


def _rol(v, n):
    return ((v << n) | (v >> (64 - n))) & M64 if n else v


def keccak256(data):
    rate = 136
    msg = bytearray(data) + b"\x01"
    msg += b"\0" * (-len(msg) % rate)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(msg[off + 8 * i: off + 8 * i + 8], "little")
        for rc in KECCAK_RC:
            c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
            d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
            a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
            b = [[0] * 5 for _ in range(5)]
            for x in range(5):
                for y in range(5):
                    b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], KECCAK_ROT[x][y])
            a = [[b[x][y] ^ (~b[(x + 1) % 5][y] & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
            a[0][0] ^= rc
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


def eip55(hex40):
    h = keccak256(hex40.lower().encode()).hex()
    return "".join(c.upper() if c in "abcdef" and int(h[i], 16) >= 8 else c for i, c in enumerate(hex40.lower()))


assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
assert eip55("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

# ---- values ----------------------------------------------------------------------------

FIRST = "james mary robert patricia john jennifer michael linda david elizabeth william susan richard jessica " \
        "joseph sarah thomas karen chris nancy daniel lisa matthew betty anthony sandra mark ashley".split()
LAST = "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez " \
       "wilson anderson thomas taylor moore jackson martin lee perez thompson white harris clark".split()
WORDS = "river stone maple harbor cedar summit falcon orbit pixel quartz lumen nova delta cobalt ember " \
        "willow aspen tundra vertex meadow".split()
TLDS = ["com", "org", "net", "io", "de", "fr", "co.uk", "info", "dev", "app", "ai", "nl"]
AREA_CODES = [201, 202, 203, 205, 206, 207, 208, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228,
              229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301,
              302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323,
              330, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402, 404, 405, 406, 407, 408, 409,
              410, 412, 413, 414, 415, 417, 419, 423, 425, 430, 432, 434, 435, 440, 443, 469, 478, 479, 480,
              484, 501, 502, 503, 504, 505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 540,
              541, 551, 559, 561, 562, 563, 567, 570, 571, 573, 574, 580, 585, 586, 601, 602, 603, 605, 606,
              607, 608, 609, 610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630, 631, 636, 641, 646,
              650, 651, 660, 661, 662, 678, 682, 701, 702, 703, 704, 706, 707, 708, 712, 713, 714, 715, 716,
              717, 718, 719, 720, 724, 727, 731, 732, 734, 740, 754, 757, 760, 763, 765, 770, 772, 773, 774,
              775, 781, 785, 786, 801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816, 817, 818,
              828, 830, 831, 832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860, 862, 863, 864, 865, 870,
              901, 903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918, 919, 920, 925, 928,
              931, 936, 937, 940, 941, 947, 949, 951, 952, 954, 956, 970, 971, 972, 973, 978, 979, 980, 985, 989]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def digits(self, n):
        return "".join(self.r.choice(string.digits) for _ in range(n))

    def hexs(self, n):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def alnum(self, n, alphabet=string.ascii_letters + string.digits):
        while True:
            s = "".join(self.r.choice(alphabet) for _ in range(n))
            if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
                return s

    # E-mail
    def email(self):
        f, l = self.r.choice(FIRST), self.r.choice(LAST)
        dom = self.r.choice(WORDS) + self.r.choice(["", "-", ""]) + self.r.choice(WORDS)
        if self.r.random() < 0.2:
            dom = "mail." + dom
        local = self.r.choice([f"{f}.{l}", f"{f[0]}{l}{self.r.randint(1, 99)}", f"{f}_{l}+news", f"{l}.{f}",
                               f"{f}{self.r.randint(1970, 2005)}"])
        addr = f"{local}@{dom}.{self.r.choice(TLDS)}"
        return addr.upper() if self.r.random() < 0.05 else addr

    # Phones: NANP in many formats, and international numbers in ranges that are in service.
    def nanp(self):
        area = self.r.choice(AREA_CODES)
        while True:
            exch = self.r.randint(200, 899)
            if exch % 100 != 11 and exch != 555:
                break
        line = self.digits(4)
        return self.r.choice([
            f"({area}) {exch}-{line}", f"{area}-{exch}-{line}", f"{area}.{exch}.{line}", f"{area} {exch} {line}",
            f"+1 {area} {exch} {line}", f"+1-{area}-{exch}-{line}", f"1-{area}-{exch}-{line}",
            f"+1{area}{exch}{line}", f"({area}){exch}-{line}", f"+1 ({area}) {exch}-{line}"])

    def international(self):
        d = self.digits
        return self.r.choice([
            f"+44 7{self.r.choice('4579')}{d(2)} {d(6)}", f"+44 20 7{d(3)} {d(4)}", f"+44 161 {d(3)} {d(4)}",
            f"+49 30 {self.r.randint(2, 9)}{d(6)}", f"+49 89 {self.r.randint(2, 9)}{d(6)}",
            f"+49 15{self.r.choice('127')}{d(1)} {d(7)}", f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
            f"+33 6 {self.r.randint(10, 59)} {d(2)} {d(2)} {d(2)}", f"+34 6{d(2)} {d(3)} {d(3)}", f"+34 91 {d(3)} {d(2)} {d(2)}",
            f"+39 3{self.r.choice('2347')}{d(1)} {d(3)} {d(4)}", f"+61 4{self.r.randint(0, 3)}{d(1)} {d(3)} {d(3)}",
            f"+61 2 9{d(3)} {d(4)}", f"+81 90-{self.r.randint(1000, 9999)}-{d(4)}", f"+55 11 9{d(4)}-{d(4)}", f"+31 6 {self.r.randint(1, 5)}{d(7)}",
            f"+46 70 {d(3)} {d(2)} {d(2)}", f"+41 79 {d(3)} {d(2)} {d(2)}"])

    # Cards
    def card_digits(self, valid=True):
        brand = self.r.choice(["visa", "visa", "mc", "mc2", "amex", "discover", "jcb", "diners"])
        prefix, n = {"visa": ("4", 16), "mc": (str(self.r.randint(51, 55)), 16),
                     "mc2": (str(self.r.randint(2221, 2720)), 16), "amex": (self.r.choice(["34", "37"]), 15),
                     "discover": (self.r.choice(["6011", "65"]), 16), "jcb": (str(self.r.randint(3528, 3589)), 16),
                     "diners": (self.r.choice(["36", "38"]), 14)}[brand]
        payload = prefix + self.digits(n - 1 - len(prefix))
        check = luhn_digit(payload)
        if not valid:
            check = str((int(check) + self.r.randint(1, 9)) % 10)
        return payload + check

    def card_format(self, d):
        style = self.r.choice(["plain", "space", "dash", "space"])
        if style == "plain":
            return d
        sep = " " if style == "space" else "-"
        if len(d) == 15:
            return sep.join([d[:4], d[4:10], d[10:]])
        if len(d) == 14:
            return sep.join([d[:4], d[4:10], d[10:]])
        return sep.join(d[i:i + 4] for i in range(0, len(d), 4))

    # IBANs
    def iban(self, valid=True):
        country = self.r.choice(list(IBAN_FORMATS))
        bban = ""
        for count, kind in IBAN_FORMATS[country]:
            alphabet = {"n": string.digits, "a": string.ascii_uppercase,
                        "c": string.digits + string.ascii_uppercase}[kind]
            bban += "".join(self.r.choice(alphabet) for _ in range(count))
        check = iban_check(country, bban)
        if not valid:
            check = "%02d" % ((int(check) + self.r.randint(1, 90)) % 97 or 2)
        s = country + check + bban
        assert len(s) == IBAN_LENGTH[country]
        if self.r.random() < 0.6:
            s = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
        return s

    # SSNs
    def ssn_parts(self):
        area = self.r.choice([self.r.randint(1, 665), self.r.randint(667, 899)])
        return "%03d" % area, "%02d" % self.r.randint(1, 99), "%04d" % self.r.randint(1, 9999)

    def ipv4(self):
        while True:
            a = [self.r.randint(1, 223), self.r.randint(0, 255), self.r.randint(0, 255), self.r.randint(1, 254)]
            if a[0] in (10, 127, 0) or (a[0] == 172 and 16 <= a[1] <= 31) or (a[0] == 192 and a[1] == 168):
                continue
            if (a[0] == 169 and a[1] == 254) or (a[0] == 100 and 64 <= a[1] <= 127):
                continue
            if (a[0], a[1], a[2]) in ((192, 0, 2), (198, 51, 100), (203, 0, 113)):
                continue
            return ".".join(map(str, a))

    def ipv6(self):
        groups = [self.r.choice(["2a00", "2600", "2001", "2a02", "2607", "2c0f", "2804"])] + \
                 ["%x" % self.r.randint(0, 0xFFFF) for _ in range(7)]
        if groups[0] == "2001" and groups[1] == "db8":
            groups[1] = "4860"
        if self.r.random() < 0.5:
            i = self.r.randint(2, 5)
            return ":".join(groups[:i]) + "::" + ":".join(groups[i + 2:])
        return ":".join(groups)

    def mac(self):
        b = [self.r.randint(0, 255) for _ in range(6)]
        b[0] &= 0xFE  # unicast
        hexes = ["%02x" % x for x in b]
        if not any(c.isalpha() for c in "".join(hexes)):
            hexes[5] = "ab"
        style = self.r.choice([":", "-", ":", "cisco"])
        s = "".join(hexes)
        out = f"{s[0:4]}.{s[4:8]}.{s[8:12]}" if style == "cisco" else style.join(hexes)
        return out.upper() if self.r.random() < 0.4 else out

    def url_credentials(self):
        user = self.r.choice(FIRST) + self.r.choice(["", "_admin", str(self.r.randint(1, 9))])
        pw = self.alnum(self.r.randint(8, 16), string.ascii_letters + string.digits + "!$*-_.~")
        host = self.r.choice(["db", "cache", "mq", "api", "ftp"]) + "." + self.r.choice(WORDS) + ".internal"
        scheme = self.r.choice(["postgres", "mysql", "mongodb", "redis", "amqp", "https", "ftp", "smtp"])
        return f"{scheme}://", f"{user}:{pw}", f"@{host}:{self.r.randint(1000, 9999)}/{self.r.choice(WORDS)}"

    def btc(self):
        kind = self.r.choice(["p2pkh", "p2sh", "v0", "v0s", "v1"])
        if kind in ("p2pkh", "p2sh"):
            return b58check(0 if kind == "p2pkh" else 5, self.r.randbytes(20))
        if kind == "v0":
            return segwit_address(0, self.r.randbytes(20))
        if kind == "v0s":
            return segwit_address(0, self.r.randbytes(32))
        return segwit_address(1, self.r.randbytes(32))

    def eth(self):
        h = self.hexs(40)
        return "0x" + (eip55(h) if self.r.random() < 0.6 else h)

    def secret(self):
        kind = self.r.choice(["aws", "github", "slack", "openai", "google", "stripe", "pem", "jwt", "entropy",
                              "entropy"])
        if kind == "aws":
            return self.r.choice(["AKIA", "ASIA"]) + self.alnum(16, string.ascii_uppercase + "234567")
        if kind == "github":
            return self.r.choice(["ghp_", "gho_", "ghs_"]) + self.alnum(36)
        if kind == "slack":
            return f"xox{self.r.choice('bpas')}-{self.digits(12)}-{self.digits(13)}-{self.alnum(24)}"
        if kind == "openai":
            return self.r.choice(["sk-", "sk-proj-"]) + self.alnum(48, string.ascii_letters + string.digits)
        if kind == "google":
            return "AIza" + self.alnum(35, string.ascii_letters + string.digits + "_-")
        if kind == "stripe":
            return "sk_live_" + self.alnum(24)
        if kind == "pem":
            body = base64.b64encode(self.r.randbytes(180)).decode()
            lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
            label = self.r.choice(["RSA ", "EC ", "OPENSSH ", ""])
            return f"-----BEGIN {label}PRIVATE KEY-----\n{lines}\n-----END {label}PRIVATE KEY-----"
        if kind == "jwt":
            def b64(obj):
                return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
            sig = base64.urlsafe_b64encode(self.r.randbytes(32)).decode().rstrip("=")
            return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': self.digits(8), 'iat': 1700000000})}.{sig}"
        return "ENTROPY:" + self.alnum(self.r.randint(24, 40), string.ascii_letters + string.digits + "+/")


# ---- templates -------------------------------------------------------------------------
# A template is a list of pieces: plain strings and (TYPE, value) pairs that are entities.

FILLER = ("the quarterly report was shared with the whole team before the meeting . we reviewed the draft "
          "and agreed on the next steps for the release . the café near the station opened in 2019 and now "
          "serves about 300 guests a day . prices start at $4.50 and the menu changes every season . "
          "our naïve first attempt took 3.5 hours , the second one 45 minutes . the office in Zürich moved "
          "to a new building on 2023-06-01 . please read the attached notes and send comments by Friday . "
          "the museum in 東京 had 1,204 visitors on its first weekend . results improved by 12 percent "
          "compared with last year . the package weighs 2.3 kg and ships within 5 days .").split(" . ")


def filler(r, n=1):
    return " ".join(r.choice(FILLER).strip(" .").capitalize() + "." for _ in range(n))


def positive(g, kind):
    r = g.r
    if kind == "EMAIL":
        e = g.email()
        pre, post = r.choice([("Email me at ", "."), ("Contact: ", ""), ("", " wrote:"), ("send it to ", " today"),
                              ("(", ")"), ("<", ">"), ("mailto:", ""), ("reach ", " for details")])
        return [pre, ("EMAIL", e), post]
    if kind == "PHONE":
        if r.random() < 0.25:
            n = g.international()
        elif r.random() < 0.15:
            n = f"{r.choice(AREA_CODES)}{r.randint(200, 899)}{g.digits(4)}"
            while n[3:6] == "555" or n[4:6] == "11":
                n = f"{r.choice(AREA_CODES)}{r.randint(200, 899)}{g.digits(4)}"
            return [r.choice(["call me at ", "Phone: ", "my cell is ", "Tel. "]), ("PHONE", n), ""]
        else:
            n = g.nanp()
        pre, post = r.choice([("call ", " after 5pm"), ("Phone: ", ""), ("", " (mobile)"), ("reach us at ", "."),
                              ("tel: ", ""), ("or ", " anytime"), ("Fax ", ""), ("", "")])
        return [pre, ("PHONE", n), post]
    if kind == "CREDIT_CARD":
        d = g.card_format(g.card_digits())
        pre, post = r.choice([("card number ", ""), ("Visa ", " exp 04/27"), ("paid with ", "."), ("", " on file"),
                              ("my credit card is ", ""), ("charged to ", " yesterday")])
        return [pre, ("CREDIT_CARD", d), post]
    if kind == "IBAN":
        pre, post = r.choice([("IBAN: ", ""), ("transfer to ", " by Monday"), ("", " (savings)"), ("account ", ".")])
        return [pre, ("IBAN", g.iban()), post]
    if kind == "US_SSN":
        a, b, c = g.ssn_parts()
        style = r.choice(["dash", "dash", "space", "bare"])
        if style == "bare":
            return [r.choice(["SSN: ", "my ssn is ", "Social Security Number "]), ("US_SSN", a + b + c), ""]
        s = f"{a}-{b}-{c}" if style == "dash" else f"{a} {b} {c}"
        pre = r.choice(["SSN ", "social security number: ", "", "ss# ", "her SSN is "])
        return [pre, ("US_SSN", s), ""]
    if kind == "IP_ADDRESS":
        ip = g.ipv4() if r.random() < 0.65 else g.ipv6()
        pre, post = r.choice([("login from ", ""), ("server ", " is down"), ("", " connected"), ("IP: ", ""),
                              ("blocked ", " after 5 attempts"), ("host ", ".")])
        return [pre, ("IP_ADDRESS", ip), post]
    if kind == "MAC_ADDRESS":
        pre, post = r.choice([("MAC ", ""), ("device ", " joined"), ("", " (eth0)"), ("BSSID ", ".")])
        return [pre, ("MAC_ADDRESS", g.mac()), post]
    if kind == "URL_CREDENTIALS":
        scheme, cred, rest = g.url_credentials()
        pre = r.choice(["DATABASE_URL=", "connect with ", "", "use "])
        return [pre + scheme, ("URL_CREDENTIALS", cred), rest]
    if kind == "CRYPTO_ADDRESS":
        a = g.btc() if r.random() < 0.6 else g.eth()
        pre, post = r.choice([("send to ", ""), ("wallet: ", ""), ("", " received 0.5"), ("my address ", ".")])
        return [pre, ("CRYPTO_ADDRESS", a), post]
    if kind == "SECRET":
        s = g.secret()
        if s.startswith("ENTROPY:"):
            tok = s[len("ENTROPY:"):]
            pre, post = r.choice([("api_key = '", "'"), ("password: ", ""), ("SECRET_TOKEN=\"", "\""),
                                  ("Authorization: Bearer ", ""), ("my access token is ", " keep it safe")])
            return [pre, ("SECRET", tok), post]
        pre, post = r.choice([("export KEY=", ""), ("key: ", ""), ("", " was leaked"), ("config:\n", "\n")])
        return [pre, ("SECRET", s), post]
    raise ValueError(kind)


def corrupt(r, address, alphabet):
    """The address with its last character changed: the checksum no longer holds."""
    return address[:-1] + r.choice([c for c in alphabet if c != address[-1]])


def negative(g):
    """A look-alike: nothing in it may be reported."""
    r = g.r
    d = g.digits
    a, b, c = g.ssn_parts()
    card = g.card_digits()
    choices = [
        # versions, sections, OIDs, dotted numbers
        f"upgrade to version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 20)}.{r.randint(0, 99)}",
        f"built with v{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
        f"see Section {r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}",
        f"OID 1.3.6.1.4.1.{r.randint(1, 50000)}", f"{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}",
        f"0{r.randint(10, 99)}.00{r.randint(1, 9)}.0{r.randint(10, 99)}.00{r.randint(1, 9)}",
        f"{r.randint(256, 999)}.{r.randint(1, 255)}.{r.randint(1, 255)}.{r.randint(1, 255)}",
        # identifiers, dates, times, ISBNs, timestamps
        f"Order #{r.choice(AREA_CODES)}{r.randint(200, 899)}{d(4)} shipped", f"order {d(13)}",
        f"invoice {d(9)}", f"on {r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        f"on {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2030)} at {r.randint(0, 23)}:{r.randint(0, 59):02d}",
        f"due {r.randint(1, 12):02d}/{r.randint(1, 28):02d}/{r.randint(1990, 2030)}",
        f"at {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
        f"ISBN 978-{r.randint(0, 1)}-{d(2)}-{d(6)}-{r.randint(0, 9)}", f"ISBN 0-{d(3)}-{d(5)}-{r.randint(0, 9)}",
        f"ts {r.randint(1500000000, 1800000000)}", f"at {r.randint(1500000000000, 1800000000000)} ms",
        f"{r.randint(2000, 2030)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}T{r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}Z",
        f"zip {d(5)}-{d(4)}", f"price ${r.randint(1, 9)},{d(3)},{d(3)}.{d(2)}", f"in {r.randint(1950, 1999)}-{r.randint(2000, 2024)}",
        f"tracking 1Z{d(3)}AA{d(10)}", f"uuid {g.hexs(8)}-{g.hexs(4)}-4{g.hexs(3)}-a{g.hexs(3)}-{g.hexs(12)}",
        f"commit {g.hexs(40)}", f"tx 0x{g.hexs(64)}",
        # cards, IBANs, SSNs that fail their checks
        g.card_format(g.card_digits(valid=False)), f"ref {'9' + card[1:-1] + luhn_digit('9' + card[1:-1])}",
        f"IBAN {g.iban(valid=False)}", f"SSN 000-{b}-{c}", f"SSN 666-{b}-{c}", f"SSN 9{d(2)}-{b}-{c}",
        f"SSN {a}-00-{c}", f"SSN {a}-{b}-0000", "ssn 078-05-1120", "ssn 123-45-6789", f"ref {a}{b}{c}",
        # documentation values and private addresses
        f"call ({r.choice(AREA_CODES)}) 555-01{d(2)}", f"{r.choice(FIRST)}@example.com", "logo@2x.png",
        f"{r.choice(FIRST)}@localhost", f"ip 192.0.2.{r.randint(1, 254)}", "loopback 127.0.0.1",
        f"router 192.168.{r.randint(0, 9)}.{r.randint(1, 254)}", f"gateway 10.{r.randint(0, 255)}.0.1",
        "2001:db8::1", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", f"00:00:5e:00:53:{g.hexs(2)}",
        "std::vector<int> v; a::b", "12:30:45",
        "postgres://user:password@localhost/db", f"https://{r.choice(FIRST)}@example.org/x",
        f"http://{r.choice(WORDS)}.org:8080/path", "mysql://root:${DB_PASSWORD}@db:3306/app",
        # crypto that fails its checksum
        corrupt(r, b58check(0, g.r.randbytes(20)), B58), corrupt(r, segwit_address(0, g.r.randbytes(20)), BECH32),
        # secrets that are words or placeholders
        "AKIAIOSFODNN7EXAMPLE", "api_key = YOUR_API_KEY_HERE", "pip install sk-learn-pipeline-classifier",
        "password: hunter2", "password: correcthorsebatterystaple", "token count 2048 tokens",
        "the secret to a good life is balance", f"sk_test_{g.alnum(24)}", "xoxb-your-token-here",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    ]
    eth_bad = eip55(g.hexs(40))
    flip = next((i for i, ch in enumerate(eth_bad) if ch.isalpha()), None)
    if flip is not None:
        bad = eth_bad[:flip] + eth_bad[flip].swapcase() + eth_bad[flip + 1:]
        if any(ch.islower() for ch in bad) and any(ch.isupper() for ch in bad):
            choices.append(f"wallet 0x{bad}")
    return r.choice(choices)


TYPES = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "MAC_ADDRESS", "URL_CREDENTIALS",
         "CRYPTO_ADDRESS", "SECRET"]


def render(pieces):
    """Joins pieces into text; returns (text, entities with UTF-8 byte offsets)."""
    out, ents, pos = [], [], 0
    for p in pieces:
        if isinstance(p, tuple):
            t, v = p
            b = v.encode()
            ents.append({"type": t, "start": pos, "end": pos + len(b), "text": v})
            out.append(v)
            pos += len(b)
        else:
            out.append(p)
            pos += len(p.encode())
    return "".join(out), ents


def make_row(g, kinds_left):
    r = g.r
    pieces = [filler(r) + " "]
    for _ in range(r.randint(1, 3)):
        u = r.random()
        if u < 0.55:
            pieces += positive(g, r.choice(kinds_left))
        elif u < 0.9:
            pieces.append(negative(g))
        else:
            pieces.append(filler(r))
        pieces.append(" " + filler(r) + " ")
    return render(pieces)


def corpus(out_dir, rows, seed):
    g = Gen(seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "corpus.jsonl"), "w") as c, open(os.path.join(out_dir, "truth.jsonl"), "w") as t:
        for i in range(rows):
            text, ents = make_row(g, TYPES)
            c.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
            t.write(json.dumps({"id": i, "entities": ents}, ensure_ascii=False) + "\n")


def bench_text(path, mb, pii_rate, seed):
    """~1.5 kB documents of filler with benign numbers; pii_rate of them carry 1-3 entities."""
    g = Gen(seed)
    r = g.r
    target = int(mb * 1_000_000)
    size = 0
    with open(path, "w") as f:
        while size < target:
            parts = [filler(r, r.randint(12, 20))]
            if r.random() < 0.25:
                parts.insert(r.randrange(len(parts) + 1), negative(g).replace("\n", " "))
            if r.random() < pii_rate:
                for _ in range(r.randint(1, 3)):
                    text, _ = render(positive(g, r.choice(TYPES)))
                    parts.insert(r.randrange(len(parts) + 1), text.replace("\n", " "))
            line = " ".join(parts) + "\n"
            f.write(line)
            size += len(line.encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--text-mb", type=float, help="write plain bench text of this size to OUT instead")
    ap.add_argument("--pii-rate", type=float, default=0.05)
    a = ap.parse_args()
    if a.text_mb:
        bench_text(a.out, a.text_mb, a.pii_rate, a.seed)
    else:
        corpus(a.out, a.rows, a.seed)


if __name__ == "__main__":
    sys.exit(main())
