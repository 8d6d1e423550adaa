"""`fidosim rp-check` against the reference RPs: the correct one passes every
case with no finding, each flawed one is flagged with exactly the cases of
its flaw, and the fuzz run finds what a flaw lets through."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import TrustedKey, fidosim_bin

# The cases each flaw must make fail, and nothing else.
FLAWS = {
    "ignore-counter": {"login.counter-regression", "login.counter-not-increasing"},
    "ignore-origin": {"register.wrong-origin", "login.wrong-origin"},
    "accept-up0": {"register.up-clear", "login.up-clear"},
    "skip-signature": {"login.signature-invalid", "login.signature-over-other-data"},
    "session-challenges": {"register.challenge-consumed", "register.challenge-superseded",
                           "login.challenge-consumed", "login.challenge-superseded"},
    "no-expiry": {"register.challenge-expired", "login.challenge-expired"},
    "idempotent-complete": {"register.response-replayed", "login.response-replayed",
                            "login.replayed-assertion"},
}

# With --trust-root: the cases each attestation flaw must make fail.
ATTESTATION_FLAWS = {
    "accept-self-attestation": {"register.untrusted-attestation", "register.self-attestation"},
    "trust-any-root": {"register.attestation-untrusted-root"},
    "accept-ca-leaf": {"register.attestation-ca-leaf"},
    "ignore-expiry": {"register.attestation-expired-leaf"},
    "ignore-aaguid-extension": {"register.attestation-aaguid-mismatch"},
    "ignore-ou": {"register.attestation-wrong-ou"},
    "skip-attestation-signature": {"register.attestation-wrong-key"},
    "u2f-skip-signature": {"register.fido-u2f-wrong-data"},
    "u2f-any-curve": {"register.fido-u2f-not-p256"},
}
LAB_CASES = set().union(*ATTESTATION_FLAWS.values())

# The RPs of these tests keep a challenge this long, and rp-check is told so
# (challenge_ttl_ms), so that the expiry cases run.
TTL = ("--challenge-ttl", "1")
TTL_CONFIG = "challenge_ttl_ms = 1000\n"


# The credentials a fuzz run registers first (`fidosim_rp_check::LANES`).
FUZZ_LANES = 8


def rp_check(rp, tmp_path, *args: str, extra: str = ""):
    config = tmp_path / "rp-check.toml"
    config.write_text(f'base_url = "http://127.0.0.1:{rp.port}"\norigin = "{rp.origin}"\n{extra}')
    out = subprocess.run([str(fidosim_bin()), "rp-check", "--config", str(config), "--json", *args],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout) if out.stdout.strip() else None
    return out.returncode, report, out.stderr


def failed_cases(report) -> set[str]:
    return {c["case"] for c in report["cases"] if c["skipped"] is None and not c["passed"]}


@pytest.mark.parametrize("uv", ["preferred", "required"])
def test_the_correct_rp_passes_everything(rp_factory, tmp_path, uv):
    rp = rp_factory("--user-verification", uv, *TTL)
    code, report, err = rp_check(rp, tmp_path, "--fuzz", "40", "--seed", "11", extra=TTL_CONFIG)
    assert code == 0, err
    # Progress on stderr, a plain line per step when it is not a terminal.
    lines = [l for l in err.splitlines() if l.startswith("rp-check: [")]
    # A step per case, per fuzz lane set up first, and per fuzz iteration.
    assert len(lines) == len(report["cases"]) + FUZZ_LANES + 40, err
    assert sum(": registered and signed in" in l for l in lines) == FUZZ_LANES, err
    assert lines[0].startswith(f"rp-check: [1/{len(lines)}] register.baseline: accepted")
    assert failed_cases(report) == set()
    assert report["fuzzFindings"] == []
    ran = {c["case"] for c in report["cases"] if c["skipped"] is None}
    assert len(ran) >= 34
    # The session cases all ran, the expiry ones too.
    assert {f"{p}.{c}" for p in ("register", "login")
            for c in ("challenge-consumed", "response-replayed", "challenge-superseded",
                      "challenge-expired")} <= ran
    # With UV required, the UV cases run too.
    assert ("login.uv-clear" in ran) == (uv == "required")


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_each_flaw_is_flagged_by_name(rp_factory, tmp_path, flaw):
    rp = rp_factory("--flaw", flaw, *TTL)
    code, report, err = rp_check(rp, tmp_path, extra=TTL_CONFIG)
    assert code == 1, err
    assert failed_cases(report) == FLAWS[flaw]


def test_the_fuzz_run_finds_what_skipping_the_signature_lets_through(rp_factory, tmp_path):
    rp = rp_factory("--flaw", "skip-signature")
    code, report, _ = rp_check(rp, tmp_path, "--case", "login.baseline", "--fuzz", "40", "--seed", "3")
    assert code == 1
    findings = report["fuzzFindings"]
    assert findings, "a signature over random data must get through"
    assert all(f["seed"] == 3 and f["kind"] == "accepted an invalid response" for f in findings)
    assert {f["sent"] for f in findings} == {"signature over random data"}
    # The same seed gives the same run.
    _, again, _ = rp_check(rp, tmp_path, "--case", "login.baseline", "--fuzz", "40", "--seed", "3")
    assert [f["iteration"] for f in again["fuzzFindings"]] == [f["iteration"] for f in findings]


def test_the_fuzz_report_is_the_same_for_any_number_of_workers(rp_factory, tmp_path):
    # Two flaws: a signature over random data gets through with a higher
    # counter, which moves that lane's counter on, and a lower counter is
    # accepted too, so later defects depend on earlier acceptances.
    rp = rp_factory("--flaw", "skip-signature", "--flaw", "ignore-counter")
    args = ("--case", "login.baseline", "--fuzz", "60", "--seed", "21")
    runs = {}
    for jobs in ("1", "4", None):
        extra = () if jobs is None else ("--jobs", jobs)
        code, report, err = rp_check(rp, tmp_path, *args, *extra)
        assert code == 1, err
        runs[jobs] = report
    findings = runs["1"]["fuzzFindings"]
    assert findings
    assert [f["iteration"] for f in findings] == sorted(f["iteration"] for f in findings)
    sent = {f["sent"] for f in findings}
    assert "signature over random data" in sent
    assert any(s.startswith("counter ") and not s.endswith(" after 1") for s in sent), sent
    assert runs["4"] == runs["1"]
    assert runs[None] == runs["1"]


def test_jobs_must_be_at_least_one(rp_factory, tmp_path):
    rp = rp_factory()
    code, report, err = rp_check(rp, tmp_path, "--fuzz", "5", "--jobs", "0")
    assert code == 2 and report is None
    assert "--jobs" in err and "1 or more" in err, err
    code, _, err = rp_check(rp, tmp_path, "--jobs", "2")
    assert code == 2 and "--fuzz" in err, err


def test_a_wrong_config_stops_with_advice(rp_factory, tmp_path):
    rp = rp_factory()
    config = tmp_path / "bad.toml"
    config.write_text(f'base_url = "http://127.0.0.1:{rp.port}"\norigin = "https://elsewhere.example"\n')
    out = subprocess.run([str(fidosim_bin()), "rp-check", "--config", str(config)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "did not accept the valid baseline" in out.stderr and "origin" in out.stderr
    config.write_text('base_url = "http://127.0.0.1:1"\norigin = "http://localhost"\nsurprise = 1\n')
    out = subprocess.run([str(fidosim_bin()), "rp-check", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "surprise" in out.stderr


def test_junit_has_a_testcase_per_case_and_a_failure_per_finding(rp_factory, tmp_path):
    import xml.etree.ElementTree as ET

    rp = rp_factory("--flaw", "skip-signature")
    junit = tmp_path / "rp-check.xml"
    code, report, err = rp_check(rp, tmp_path, "--fuzz", "20", "--seed", "3", "--junit", str(junit))
    assert code == 1, err
    root = ET.parse(junit).getroot()
    cases = root.findall("./testsuite/testcase")
    by_name = {c.get("name"): c for c in cases}
    assert len(by_name) == len(cases), "names are unique"
    # Every case of the JSON report is there, in the same state.
    for c in report["cases"]:
        x = by_name[c["case"]]
        if c["skipped"] is not None:
            assert x.find("skipped") is not None, c
        elif c["passed"]:
            assert list(x) == [], c
        else:
            failure = x.find("failure")
            assert failure is not None and "must reject" in failure.get("message"), c
    failed = {c.get("name") for c in cases if c.find("failure") is not None and c.get("classname") == "rp-check.cases"}
    assert failed == FLAWS["skip-signature"]
    fuzz = [c for c in cases if c.get("classname") == "rp-check.fuzz"]
    assert len(fuzz) == len(report["fuzzFindings"]) > 0
    assert all(c.find("failure").get("message") == "accepted an invalid response" for c in fuzz)
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == len(failed) + len(fuzz)


def test_partial_tables_keep_the_defaults(rp_factory, tmp_path):
    rp = rp_factory()
    config = tmp_path / "partial.toml"
    # Only what differs: the options pointer, and one field of one step.
    config.write_text(
        f'base_url = "http://127.0.0.1:{rp.port}"\norigin = "{rp.origin}"\n'
        '[register]\noptions = "/publicKey"\n'
        '[login.complete]\nmethod = "POST"\n'
    )
    out = subprocess.run([str(fidosim_bin()), "rp-check", "--config", str(config), "--json",
                          "--case", "login.baseline"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert failed_cases(json.loads(out.stdout)) == set()


def make_tls(tmp_path):
    """A private CA and a certificate for localhost and 127.0.0.1 signed by it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rp-check test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


def test_an_https_rp_with_a_private_ca(rp_factory, tmp_path):
    tls = make_tls(tmp_path)
    rp = rp_factory("--tls-cert", str(tls["cert"]), "--tls-key", str(tls["key"]), "--flaw", "ignore-origin")
    assert rp.scheme == "https"
    config = tmp_path / "https.toml"
    config.write_text(f'base_url = "https://localhost:{rp.port}"\norigin = "{rp.origin}"\n')

    def run(*args):
        return subprocess.run([str(fidosim_bin()), "rp-check", "--config", str(config), "--json", *args],
                              capture_output=True, text=True, timeout=300)

    # Trusted through --ca: the whole catalogue runs, and the flaw is found.
    out = run("--ca", str(tls["ca"]))
    assert out.returncode == 1, out.stderr
    assert failed_cases(json.loads(out.stdout)) == FLAWS["ignore-origin"]
    # Not trusted: the baseline cannot even be sent, and the error says why
    # and what to do.
    out = run("--case", "register.baseline")
    assert out.returncode != 0
    assert "certificate" in out.stderr and "--ca" in out.stderr, out.stderr
    # --insecure skips the check, loudly.
    out = run("--case", "register.baseline", "--insecure")
    assert out.returncode == 0, out.stderr
    assert "NOT verified" in out.stderr
    # A --ca that is not a certificate.
    out = run("--ca", str(tls["key"]))
    assert out.returncode != 0 and "--ca" in out.stderr, out.stderr


def test_the_expiry_cases_are_skipped_without_a_ttl(rp_factory, tmp_path):
    rp = rp_factory()
    code, report, err = rp_check(rp, tmp_path, "--case", "register.challenge-expired",
                                 "--case", "login.challenge-expired")
    assert code == 0, err
    skipped = {c["case"]: c["skipped"] for c in report["cases"] if c["skipped"]}
    assert set(skipped) == {"register.challenge-expired", "login.challenge-expired"}
    assert all("challenge_ttl_ms" in why for why in skipped.values())


# ---------------------------------------------------------------------------
# The attestation lab: an RP that demands trusted attestation
# ---------------------------------------------------------------------------


def lab_config(key) -> str:
    return (f'requires_trusted_attestation = true\nattestation_state = "{key.state}"\n'
            f'trusted_roots = ["{key.ca}"]\n')


def test_the_correct_trusting_rp_passes_the_attestation_lab(rp_factory, tmp_path, trusted_key):
    rp = rp_factory("--trust-root", str(trusted_key.ca), *TTL)
    code, report, err = rp_check(rp, tmp_path, extra=lab_config(trusted_key) + TTL_CONFIG)
    assert code == 0, err
    assert failed_cases(report) == set()
    ran = {c["case"] for c in report["cases"] if c["skipped"] is None}
    # Every lab case ran, and every case that ran without the lab too.
    assert LAB_CASES <= ran
    assert len(ran) >= 34 + len(LAB_CASES)


@pytest.mark.parametrize("flaw", sorted(ATTESTATION_FLAWS))
def test_each_attestation_flaw_is_flagged_by_name(rp_factory, tmp_path, trusted_key, flaw):
    rp = rp_factory("--trust-root", str(trusted_key.ca), "--flaw", flaw)
    code, report, err = rp_check(rp, tmp_path, "--case", "register.", extra=lab_config(trusted_key))
    assert code == 1, err
    assert failed_cases(report) == ATTESTATION_FLAWS[flaw]


@pytest.mark.parametrize("flaw", ["ignore-origin", "accept-up0"])
def test_registration_defects_are_signed_anew_for_a_trusting_rp(rp_factory, tmp_path, trusted_key,
                                                                 flaw):
    # Changed after the key signed, the attestation signature would not
    # verify and the RP would refuse for that reason: the flaw must show.
    rp = rp_factory("--trust-root", str(trusted_key.ca), "--flaw", flaw)
    code, report, err = rp_check(rp, tmp_path, "--case", "register.", extra=lab_config(trusted_key))
    assert code == 1, err
    assert failed_cases(report) == {c for c in FLAWS[flaw] if c.startswith("register.")}


def test_fido_u2f_cases_are_skipped_when_the_rp_takes_no_fido_u2f(rp_factory, tmp_path, trusted_key):
    rp = rp_factory("--trust-root", str(trusted_key.ca), "--trusted-formats", "packed",
                    "--flaw", "u2f-skip-signature")
    code, report, err = rp_check(rp, tmp_path, "--case", "register.", extra=lab_config(trusted_key))
    assert code == 0, err
    skipped = {c["case"]: c["skipped"] for c in report["cases"] if c["skipped"] is not None}
    for case in ("register.fido-u2f-wrong-data", "register.fido-u2f-not-p256"):
        assert "refused a valid fido-u2f registration" in skipped[case], skipped
    assert "register.attestation-wrong-key" not in skipped


def test_without_attestation_state_the_lab_cases_are_skipped(rp_factory, tmp_path):
    rp = rp_factory()
    code, report, err = rp_check(rp, tmp_path, "--case", "register.")
    assert code == 0, err
    for c in report["cases"]:
        if c["case"] in LAB_CASES:
            assert c["skipped"] == "the config does not say the RP demands trusted attestation", c


def test_the_baseline_fails_when_the_rp_trusts_another_root(rp_factory, tmp_path, trusted_key,
                                                            tmp_path_factory):
    other = TrustedKey(tmp_path_factory.mktemp("other-key"))
    rp = rp_factory("--trust-root", str(other.ca))
    config = f'requires_trusted_attestation = true\nattestation_state = "{trusted_key.state}"\n'
    code, report, err = rp_check(rp, tmp_path, extra=config)
    assert code == 1 and report is None, err
    assert "did not accept the valid baseline (rejected (400))" in err, err
    assert f"attested by the CA of {trusted_key.state}: the RP must trust it" in err, err


@pytest.mark.parametrize("config, says", [
    ("requires_trusted_attestation = true\n", "needs attestation_state"),
    ('attestation_state = "missing.fidosim"\n', "no such file"),
    ('attestation_state = "{state}"\ntrusted_roots = ["{other}"]\n',
     "none of the RP's roots is the attestation CA"),
    ('attestation_state = "{state}"\ntrusted_roots = ["nowhere.pem"]\n', "cannot read"),
    ('trusted_roots = ["{ca}"]\n', "trusted_roots needs attestation_state"),
])
def test_lab_configuration_mistakes_are_explained(rp_factory, tmp_path, trusted_key,
                                                  tmp_path_factory, config, says):
    other = tmp_path / "other.pem"
    other.write_text(TrustedKey(tmp_path_factory.mktemp("another")).ca.read_text())
    rp = rp_factory()
    extra = config.format(state=trusted_key.state, ca=trusted_key.ca, other=other)
    code, report, err = rp_check(rp, tmp_path, extra=extra)
    assert code == 2 and report is None, err
    assert says in err, err
