// Unit tests of PII detection and redaction (privacy/pii.h) and the `pii` block: known
// answers per entity type, the validators on published test vectors (Luhn, ISO 13616
// mod-97, the SSA's SSN rules, Base58Check, BIP 173/350 bech32/bech32m, EIP-55),
// look-alikes that must not be findings (versions, order ids, dates, ISBNs, timestamps),
// redaction that leaves nothing detectable, consistent surrogates, and the block's actions.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/privacy/pii.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace synthforge {
namespace {

using privacy::Finding;
using privacy::Scanner;
using privacy::ScannerOptions;
namespace validate = privacy::validate;

const Scanner& scanner() {
    static const Scanner s(ScannerOptions{});
    return s;
}

// "TYPE:text" for each finding, in order.
std::vector<std::string> found(std::string_view text, const Scanner& s = scanner()) {
    std::vector<std::string> out;
    for (const auto& f : s.scan(text)) out.push_back(f.type + ":" + f.text);
    return out;
}

using Strings = std::vector<std::string>;

// ---- validators ------------------------------------------------------------------------

TEST(PiiValidate, Luhn) {
    EXPECT_TRUE(validate::luhn("79927398713"));
    EXPECT_FALSE(validate::luhn("79927398710"));
    EXPECT_TRUE(validate::luhn("4111111111111111"));
    EXPECT_FALSE(validate::luhn("4111111111111112"));
    EXPECT_FALSE(validate::luhn(""));
    EXPECT_FALSE(validate::luhn("4111-1111"));
}

TEST(PiiValidate, CardBrandsByIinAndLength) {
    EXPECT_EQ(validate::card_brand("4111111111111111"), "visa");
    EXPECT_EQ(validate::card_brand("4222222222222"), "visa");  // 13 digits
    EXPECT_EQ(validate::card_brand("5555555555554444"), "mastercard");
    EXPECT_EQ(validate::card_brand("2223003122003222"), "mastercard");  // the 2-series
    EXPECT_EQ(validate::card_brand("378282246310005"), "amex");
    EXPECT_EQ(validate::card_brand("6011111111111117"), "discover");
    EXPECT_EQ(validate::card_brand("3530111333300000"), "jcb");
    EXPECT_EQ(validate::card_brand("30569309025904"), "diners");
    EXPECT_EQ(validate::card_brand("6200000000000005"), "unionpay");
    EXPECT_EQ(validate::card_brand("37828224631000"), "");  // amex needs 15 digits
    EXPECT_EQ(validate::card_brand("9780306406157"), "");   // an ISBN-13: no issuer starts with 9
    EXPECT_EQ(validate::card_brand("1700000000000"), "");   // epoch milliseconds
}

TEST(PiiValidate, IbanLengthAndMod97) {
    EXPECT_TRUE(validate::iban("GB82 WEST 1234 5698 7654 32"));
    EXPECT_TRUE(validate::iban("GB82WEST12345698765432"));
    EXPECT_TRUE(validate::iban("DE89370400440532013000"));
    EXPECT_TRUE(validate::iban("FR1420041010050500013M02606"));
    EXPECT_TRUE(validate::iban("NL91ABNA0417164300"));
    EXPECT_FALSE(validate::iban("GB82 WEST 1234 5698 7654 33"));  // check digits off
    EXPECT_FALSE(validate::iban("GB82WEST1234569876543"));        // 21 characters, GB has 22
    EXPECT_FALSE(validate::iban("XX82WEST12345698765432"));       // no such country
    EXPECT_EQ(validate::iban_length("DE"), 22u);
    EXPECT_EQ(validate::iban_length("NO"), 15u);
    EXPECT_EQ(validate::iban_length("US"), 0u);
}

TEST(PiiValidate, SsnRules) {
    EXPECT_TRUE(validate::us_ssn("536221234"));
    EXPECT_TRUE(validate::us_ssn("001010001"));
    EXPECT_FALSE(validate::us_ssn("000221234"));  // area 000
    EXPECT_FALSE(validate::us_ssn("666221234"));  // area 666
    EXPECT_FALSE(validate::us_ssn("900221234"));  // 900-999
    EXPECT_FALSE(validate::us_ssn("999221234"));
    EXPECT_FALSE(validate::us_ssn("536001234"));  // group 00
    EXPECT_FALSE(validate::us_ssn("536220000"));  // serial 0000
    EXPECT_FALSE(validate::us_ssn("111111111"));  // all one digit
    EXPECT_FALSE(validate::us_ssn("078051120"));  // the Woolworth wallet card
    EXPECT_FALSE(validate::us_ssn("219099999"));
    EXPECT_FALSE(validate::us_ssn("123456789"));
    EXPECT_FALSE(validate::us_ssn("53622123"));
}

TEST(PiiValidate, Base58Check) {
    EXPECT_TRUE(validate::base58check("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));   // the genesis block's
    EXPECT_TRUE(validate::base58check("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));   // P2SH
    EXPECT_FALSE(validate::base58check("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));  // last character changed
    EXPECT_FALSE(validate::base58check("1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a"));  // 0 is not base58
    EXPECT_FALSE(validate::base58check("1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf"));
}

TEST(PiiValidate, Bech32AndBech32m) {
    // BIP 173 / BIP 350 test vectors.
    EXPECT_TRUE(validate::bech32_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"));
    EXPECT_TRUE(validate::bech32_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
    EXPECT_TRUE(validate::bech32_address("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
    EXPECT_TRUE(validate::bech32_address("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"));
    EXPECT_TRUE(validate::bech32_address("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"));
    EXPECT_TRUE(validate::bech32_address("BC1SW50QGDZ25J"));
    EXPECT_FALSE(validate::bech32_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"));  // checksum
    EXPECT_FALSE(validate::bech32_address("bc1qw508d6qejxtdg4y5r3zarvaRY0c5xw7kv8f3t4"));  // mixed case
    // Witness v1+ with a bech32 (not bech32m) checksum, and v0 with bech32m.
    EXPECT_FALSE(validate::bech32_address("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd"));
    EXPECT_FALSE(validate::bech32_address("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du"));
    EXPECT_FALSE(validate::bech32_address("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"));  // testnet
}

TEST(PiiValidate, Eip55) {
    for (std::string a : {"5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "fB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                          "dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "D1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"}) {
        std::string lower = a;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_EQ(validate::eip55(lower), a);
        EXPECT_TRUE(validate::ethereum("0x" + a));
        EXPECT_TRUE(validate::ethereum("0x" + lower));  // single case: no checksum to check
    }
    EXPECT_FALSE(validate::ethereum("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));  // one letter's case
    EXPECT_FALSE(validate::ethereum("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe"));
}

TEST(PiiValidate, EmailIpMac) {
    EXPECT_TRUE(validate::email("jane.doe+tag@mail.example-corp.co.uk"));
    EXPECT_FALSE(validate::email(".jane@example.com"));
    EXPECT_FALSE(validate::email("jane..doe@example.com"));
    EXPECT_FALSE(validate::email("jane@-example.com"));
    EXPECT_FALSE(validate::email("jane@example.c"));
    EXPECT_FALSE(validate::email("jane@example.c0m"));
    EXPECT_FALSE(validate::email("logo@2x.png"));
    EXPECT_FALSE(validate::email("jane@localhost"));
    EXPECT_TRUE(validate::ipv4("8.8.8.8"));
    EXPECT_FALSE(validate::ipv4("256.1.1.1"));
    EXPECT_FALSE(validate::ipv4("010.1.1.1"));
    EXPECT_TRUE(validate::ipv6("2606:4700:4700::1111"));
    EXPECT_TRUE(validate::ipv6("fe80::1%eth0"));
    EXPECT_FALSE(validate::ipv6("12:30:45"));
    EXPECT_TRUE(validate::mac("00:1A:2B:3C:4D:5E"));
    EXPECT_TRUE(validate::mac("00-1a-2b-3c-4d-5e"));
    EXPECT_TRUE(validate::mac("001a.2b3c.4d5e"));
    EXPECT_FALSE(validate::mac("00:1a-2b:3c-4d:5e"));
    EXPECT_NEAR(validate::shannon_entropy("abcd"), 2.0, 1e-9);
    EXPECT_NEAR(validate::shannon_entropy("aaaa"), 0.0, 1e-9);
}

// ---- known answers ---------------------------------------------------------------------

TEST(PiiScan, EachTypeWithSpanInBytes) {
    const std::string text = "Caf\xC3\xA9 owner: jane.doe@acme-corp.io";
    auto f = scanner().scan(text);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].type, "EMAIL");
    EXPECT_EQ(f[0].start, 13u);  // a byte offset: "é" takes two bytes (12 code points)
    EXPECT_EQ(f[0].end, text.size());
    EXPECT_EQ(text.substr(f[0].start, f[0].end - f[0].start), f[0].text);
    EXPECT_GE(f[0].score, 0.9);
    EXPECT_LE(f[0].score, 1.0);

    EXPECT_EQ(found("call (415) 555-2671 now"), Strings{"PHONE:(415) 555-2671"});
    EXPECT_EQ(found("ring +44 20 7946 0958 or +49 30 901820"),
              (Strings{"PHONE:+44 20 7946 0958", "PHONE:+49 30 901820"}));
    EXPECT_EQ(found("card 4111 1111 1111 1111 and 3782 822463 10005"),
              (Strings{"CREDIT_CARD:4111 1111 1111 1111", "CREDIT_CARD:3782 822463 10005"}));
    EXPECT_EQ(found("pay to GB82 WEST 1234 5698 7654 32 TODAY"), Strings{"IBAN:GB82 WEST 1234 5698 7654 32"});
    EXPECT_EQ(found("SSN: 536-22-1234"), Strings{"US_SSN:536-22-1234"});
    EXPECT_EQ(found("login from 8.8.8.8 and 2606:4700:4700::1111"),
              (Strings{"IP_ADDRESS:8.8.8.8", "IP_ADDRESS:2606:4700:4700::1111"}));
    EXPECT_EQ(found("device 00:1A:2B:3C:4D:5E"), Strings{"MAC_ADDRESS:00:1A:2B:3C:4D:5E"});
    EXPECT_EQ(found("DATABASE_URL=postgres://admin:s3cr3tP4ss@db.internal.net:5432/app"),
              Strings{"URL_CREDENTIALS:admin:s3cr3tP4ss"});
    EXPECT_EQ(found("https://acme-corp.io/contact?to=jane.doe@acme-corp.io"), Strings{"EMAIL:jane.doe@acme-corp.io"});
    EXPECT_EQ(found("send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
              Strings{"CRYPTO_ADDRESS:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"});
    EXPECT_EQ(found("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
              Strings{"CRYPTO_ADDRESS:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"});
    EXPECT_EQ(found("wallet 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
              Strings{"CRYPTO_ADDRESS:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"});
}

TEST(PiiScan, Secrets) {
    const std::string gh = "ghp_" + std::string("aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
    const std::string google = "AIzaSyD3x9Kq7LmN2pR5tV8wY1zB4cE6gH9jK0m";
    const std::string stripe = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    const std::string slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    const std::string openai = "sk-proj-T3BlbkFJ9aX2mQ7vR4tY8uP1sD6fG0hJ3kL5zX";
    for (const std::string& key : {std::string("AKIA2E0A8F3B244C9986"), gh, google, stripe, slack, openai}) {
        auto f = scanner().scan("export KEY=" + key + "\n");
        ASSERT_EQ(f.size(), 1u) << key;
        EXPECT_EQ(f[0].type, "SECRET");
        EXPECT_EQ(f[0].text, key);
    }
    const std::string pem =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n"
        "7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh\n"
        "-----END RSA PRIVATE KEY-----";
    auto f = scanner().scan("key:\n" + pem + "\nend");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].kind, "private_key");
    EXPECT_EQ(f[0].text, pem);
    EXPECT_EQ(found("api_key = 'Zx9Qw3Er7Ty1Ui5Op2As8Df4'"), Strings{"SECRET:Zx9Qw3Er7Ty1Ui5Op2As8Df4"});
    EXPECT_EQ(found("the password is: Tr0ub4dor&3xYz!Q9w#Lm2v"), Strings{"SECRET:Tr0ub4dor&3xYz!Q9w#Lm2v"});
}

TEST(PiiScan, LookAlikesAreNotFindings) {
    for (const char* text : {"upgrade to version 1.2.3.4 today",
                             "built with v1.2.3.4",
                             "see Section 1.2.3.4",
                             "OID 1.3.6.1.4.1.2",
                             "1.2.3.4.5",
                             "010.001.002.003",
                             "999.1.1.1",
                             "Order #4155552671 shipped",
                             "order 1234567890123",
                             "on 2024-03-15",
                             "on 15.03.2024 at 10:30",
                             "on 03/15/2024",
                             "ISBN 978-3-16-148410-0",
                             "ISBN 0-306-40615-2",
                             "at 1700000000",
                             "ts 1700000000000",
                             "2024-03-15T10:20:30Z",
                             "12:30:45",
                             "std::vector<int> a; a::b",
                             "4111 1111 1111 1112",
                             "000-12-3456",
                             "666-12-3456",
                             "078-05-1120",
                             "ssn 123-45-6789",
                             "zip 94105-1234",
                             "call (415) 555-0123 (fictional)",
                             "jane@example.com",
                             "logo@2x.png",
                             "postgres://user:password@localhost/db",
                             "https://user@example.org/x",
                             "http://example.org:8080/path",
                             "AKIAIOSFODNN7EXAMPLE",
                             "pip install sk-learn-style-classifier-thing",
                             "password: hunter2",
                             "token count 2048 tokens",
                             "the secret to a good life",
                             "uuid 550e8400-e29b-41d4-a716-446655440000",
                             "commit 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90",
                             "ip 192.0.2.1 and 127.0.0.1 and 2001:db8::1",
                             "00:00:00:00:00:00",
                             "price $1,234,567.89",
                             "-----BEGIN PUBLIC KEY-----",
                             "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
                             "wallet 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
                             "0x0000000000000000000000000000000000000000",
                             "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
                             "in 1999-2004 and 2019 2020"}) {
        EXPECT_EQ(found(text), Strings{}) << text;
    }
}

TEST(PiiScan, ContextRaisesScores) {
    // A bare 9-digit number is an SSN only when the text says so.
    EXPECT_EQ(found("ref 536221234"), Strings{});
    EXPECT_EQ(found("SSN 536221234"), Strings{"US_SSN:536221234"});
    auto plain = scanner().scan("at 536-22-1234");
    auto said = scanner().scan("social security number 536-22-1234");
    ASSERT_EQ(plain.size(), 1u);
    ASSERT_EQ(said.size(), 1u);
    EXPECT_GT(said[0].score, plain[0].score);
    // Unformatted 10-digit numbers are phones only with a phone word before them.
    EXPECT_EQ(found("id 4155552671"), Strings{});
    EXPECT_EQ(found("call me: 4155552671"), Strings{"PHONE:4155552671"});
    // A private address is no finding alone; the word "IP" makes it one.
    EXPECT_EQ(found("router 192.168.1.1"), Strings{});
    ScannerOptions low;
    low.min_score = 0.2;
    EXPECT_EQ(found("router 192.168.1.1", Scanner(low)), Strings{"IP_ADDRESS:192.168.1.1"});
}

TEST(PiiScan, OptionsEntitiesRegionsCustomAndDenyLists) {
    ScannerOptions o;
    o.entities = {"EMAIL"};
    EXPECT_EQ(found("jane.doe@acme.io 4111 1111 1111 1111", Scanner(o)), Strings{"EMAIL:jane.doe@acme.io"});

    ScannerOptions gb;
    gb.phone_regions = {"GB"};
    EXPECT_EQ(found("ring 020 7946 0958", Scanner(gb)), Strings{"PHONE:020 7946 0958"});
    EXPECT_EQ(found("ring 020 7946 0958"), Strings{});  // not a US number

    ScannerOptions c;
    c.patterns.push_back({"EMPLOYEE_ID", R"(\bEMP-(\d{6})\b)", 0.8, {"employee"}});
    c.deny_lists.push_back({"PROJECT", {"Bluebird", "Project X"}, false, 1.0});
    Scanner custom(c);
    auto f = custom.scan("employee EMP-123456 works on project x and bluebirds");
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].type, "EMPLOYEE_ID");
    EXPECT_EQ(f[0].text, "123456");  // the group is the span
    EXPECT_DOUBLE_EQ(f[0].score, 0.95);
    EXPECT_EQ(f[1].type, "PROJECT");
    EXPECT_EQ(f[1].text, "project x");  // whole words: "bluebirds" is not "Bluebird"

    EXPECT_THROW(Scanner({.entities = {"NAME"}}), std::invalid_argument);
    EXPECT_THROW(Scanner({.phone_regions = {"XX"}}), std::invalid_argument);
    ScannerOptions bad;
    bad.patterns.push_back({"EMAIL", "x", 0.8, {}});
    EXPECT_THROW(Scanner{bad}, std::invalid_argument);  // a built-in's name
    bad.patterns = {{"OK", "(", 0.8, {}}};
    EXPECT_THROW(Scanner{bad}, std::invalid_argument);
}

// ---- redaction -------------------------------------------------------------------------

const char* kEverything =
    "Jane (jane.doe@acme-corp.io, call (415) 555-2671 or +44 20 7946 0958) paid with 4111 1111 1111 1111 "
    "from GB82 WEST 1234 5698 7654 32; SSN 536-22-1234; login from 8.8.8.8 / 2606:4700:4700::1111 on "
    "00:1A:2B:3C:4D:5E; db postgres://admin:s3cr3tP4ss@db.internal.net/app; btc 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa "
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq, eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed; keys "
    "AKIA2E0A8F3B244C9986 ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A sk_live_4eC39HqLyjWDarjtT1zdp7dc and "
    "api_key = 'Zx9Qw3Er7Ty1Ui5Op2As8Df4'.";

TEST(PiiRedact, PlaceholdersLeaveNothingDetectable) {
    const auto findings = scanner().scan(kEverything);
    EXPECT_EQ(findings.size(), 17u);  // every entity of the text
    const std::string redacted = privacy::Redactor().redact(kEverything, findings);
    EXPECT_EQ(found(redacted), Strings{}) << redacted;
    EXPECT_NE(redacted.find("(<EMAIL>, call <PHONE> or <PHONE>)"), std::string::npos) << redacted;
    EXPECT_NE(redacted.find("postgres://<URL_CREDENTIALS>@db.internal.net/app"), std::string::npos) << redacted;
    privacy::RedactOptions o;
    o.placeholder = "[{type} removed]";
    EXPECT_EQ(privacy::Redactor(o).redact("mail jane.doe@acme-corp.io", scanner().scan("mail jane.doe@acme-corp.io")),
              "mail [EMAIL removed]");
}

TEST(PiiRedact, SurrogatesAreConsistentFormatPreservingAndUndetectable) {
    privacy::RedactOptions o;
    o.surrogate = true;
    o.seed = 7;
    o.phone_regions = {"US"};
    const privacy::Redactor r(o);
    const auto findings = scanner().scan(kEverything);
    const std::string fake = r.redact(kEverything, findings);
    EXPECT_EQ(found(fake), Strings{}) << fake;
    for (const auto& f : findings) EXPECT_EQ(fake.find(f.text), std::string::npos) << f.text;

    // The same value gets the same surrogate; another value or seed, another one.
    const std::string twice = "a jane.doe@acme-corp.io b jane.doe@acme-corp.io c john@acme-corp.io";
    const std::string out = r.redact(twice, scanner().scan(twice));
    const size_t a = out.find("user_"), b = out.find("user_", a + 1), c = out.find("user_", b + 1);
    ASSERT_NE(c, std::string::npos) << out;
    EXPECT_EQ(out.substr(a, 25), out.substr(b, 25));
    EXPECT_NE(out.substr(a, 25), out.substr(c, 25));
    EXPECT_NE(out.find("@example.com"), std::string::npos);
    privacy::RedactOptions o2 = o;
    o2.seed = 8;
    EXPECT_NE(privacy::Redactor(o2).redact(twice, scanner().scan(twice)), out);

    auto one = [&](const std::string& text) {
        auto f = scanner().scan(text);
        EXPECT_EQ(f.size(), 1u) << text;
        return f.empty() ? std::string() : r.surrogate(f[0]);
    };
    const std::string phone = one("call (415) 555-2671");
    EXPECT_TRUE(phone.size() == 14 && phone[0] == '(' && phone.substr(5, 6) == " 555-0") << phone;
    const std::string card = one("card 4111-1111-1111-1111");
    EXPECT_EQ(card.size(), 19u);
    EXPECT_EQ(card[0], '4');
    EXPECT_EQ(card[4], '-');
    const std::string iban = one("GB82 WEST 1234 5698 7654 32");
    EXPECT_EQ(iban.size(), 27u);
    EXPECT_EQ(iban.substr(0, 2), "GB");
    EXPECT_FALSE(validate::iban(iban));
    const std::string ssn = one("SSN 536-22-1234");
    EXPECT_EQ(ssn[0], '9');
    EXPECT_EQ(ssn[3], '-');
    EXPECT_EQ(one("from 8.8.8.8").substr(0, 4).find_first_of("12"), 0u);
    EXPECT_EQ(one("AKIA2E0A8F3B244C9986").substr(0, 12), "AKIAREDACTED");
}

// ---- the block -------------------------------------------------------------------------

std::unique_ptr<Block> pii_block(const Json& config, BlockEnv env = {}) {
    return BlockRegistry::global().find("pii")->make("pii", config, env);
}

TEST(PiiBlock, FlagAddsFindingsWithFieldPaths) {
    auto block = pii_block({{"fields", {"text", "messages"}}});
    Emitter out(block->name());
    Record row = {{"id", 1},
                  {"text", "from jane.doe@acme-corp.io"},
                  {"other", "not scanned: 4111 1111 1111 1111"},
                  {"messages", {{{"role", "user"}, {"content", "call (415) 555-2671"}}}}};
    block->process({row, Record{{"id", 2}, {"text", "nothing here"}}}, out);
    ASSERT_EQ(out.rows().size(), 2u);
    const Json& f = out.rows()[0].at("_pii");
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0], Json::parse(R"({"field":"text","type":"EMAIL","start":5,"end":26,"text":"jane.doe@acme-corp.io",
                                    "score":0.9})"));
    EXPECT_EQ(f[1].at("field"), "messages[0].content");
    EXPECT_EQ(f[1].at("type"), "PHONE");
    EXPECT_EQ(out.rows()[1].at("_pii"), Json::array());
}

TEST(PiiBlock, RedactRewritesEveryStringByDefault) {
    auto block = pii_block({{"action", "redact"}});
    Emitter out(block->name());
    block->process({Record{{"a", "mail jane.doe@acme-corp.io"}, {"b", {"SSN 536-22-1234", 7}}}}, out);
    ASSERT_EQ(out.rows().size(), 1u);
    EXPECT_EQ(out.rows()[0], Json::parse(R"({"a":"mail <EMAIL>","b":["SSN <US_SSN>",7]})"));
}

TEST(PiiBlock, DropRejectsExactlyTheRowsWithFindings) {
    auto block = pii_block({{"action", "drop"}, {"fields", {"text"}}});
    Emitter out(block->name());
    std::vector<Record> rows;
    for (int i = 0; i < 20; ++i) {
        std::string text = "row " + std::to_string(i) + " version 1.2.3." + std::to_string(i);
        if (i % 3 == 0) text += " jane" + std::to_string(i) + "@acme-corp.io x@acme.org, call (415) 555-2671";
        rows.push_back(Record{{"id", i}, {"text", text}});
    }
    block->process(std::move(rows), out);
    ASSERT_EQ(out.rejected().size(), 7u);
    for (const auto& r : out.rejected()) {
        EXPECT_EQ(r.at("id").get<int>() % 3, 0);
        EXPECT_EQ(r.at(kReasonColumn), "PII found: EMAIL x2, PHONE x1");
    }
    for (const auto& r : out.rows()) EXPECT_NE(r.at("id").get<int>() % 3, 0);
}

TEST(PiiBlock, DenyListFileRelativeToTheFlow) {
    const auto dir = std::filesystem::temp_directory_path() / "sf_pii_deny";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "names.txt") << "# customers\nAlice Liddell\n\n  Bob Marley  \n";
    BlockEnv env;
    env.flow_dir = dir;
    auto block =
        pii_block({{"action", "redact"}, {"deny_lists", {{{"name", "CUSTOMER"}, {"file", "names.txt"}}}}}, env);
    Emitter out(block->name());
    block->process({Record{{"t", "alice liddell met BOB MARLEY"}}}, out);
    EXPECT_EQ(out.rows().at(0).at("t"), "<CUSTOMER> met <CUSTOMER>");
    EXPECT_THROW(pii_block({{"deny_lists", {{{"name", "X"}, {"file", "missing.txt"}}}}}, env), ConfigError);
    std::filesystem::remove_all(dir);
}

TEST(PiiBlock, ConfigErrors) {
    EXPECT_THROW(pii_block({{"phone_regions", {"QQ"}}}), ConfigError);
    EXPECT_THROW(pii_block({{"patterns", {{{"name", "BAD"}, {"regex", "("}}}}}), ConfigError);
}

}  // namespace
}  // namespace synthforge
