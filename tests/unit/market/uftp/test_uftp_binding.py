"""The binding of a UFTP key to a market address, and the envelope checks of a message."""

from __future__ import annotations

import datetime as dt
from base64 import b64encode

import pytest
from eth_account import Account
from nacl.signing import SigningKey
from shapeshifter_uftp.transport import seal_message, to_xml
from shapeshifter_uftp.uftp import SignedMessage, TestMessage

from market.uftp.binding import binding_signer, sign_binding
from market.uftp.config import UftpConfigError, parse_config
from market.uftp.envelope import Rejection, TransportRefusal, check_opened, open_message

MARKET = "0x" + "11" * 20
ETH_KEY = "0x" + "42" * 32


def _ed25519() -> tuple[str, str]:
    sk = SigningKey.generate()
    return b64encode(bytes(sk) + bytes(sk.verify_key)).decode(), b64encode(
        bytes(sk.verify_key)
    ).decode()


def _binding(public: str, **over: object) -> dict[str, str]:
    args = {"chain_id": 31337, "market": MARKET, "domain": "agr.example.com", "role": "AGR"}
    args.update(over)  # type: ignore[arg-type]
    return sign_binding(ETH_KEY, public_key=public, **args)  # type: ignore[arg-type]


def test_binding_recovers_to_the_signer_only_for_its_own_terms() -> None:
    _, public = _ed25519()
    b = _binding(public)
    assert b["address"] == Account.from_key(ETH_KEY).address.lower()
    terms = {"chain_id": 31337, "market": MARKET, "domain": "agr.example.com", "role": "AGR"}
    assert binding_signer(b["binding_signature"], public_key=public, **terms) == b["address"]  # type: ignore[arg-type]
    for changed in ({"chain_id": 1}, {"domain": "x.example.com"}, {"role": "DSO"}):
        other = {**terms, **changed}
        assert binding_signer(b["binding_signature"], public_key=public, **other) != b["address"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        _binding(b64encode(b"short").decode())


def _cfg(public: str) -> object:
    return parse_config(
        {
            "api_url": "http://127.0.0.1:1",
            "rpc_url": "http://127.0.0.1:2",
            "domain": "market.flexmarket.example",
            "signing_key_env": "K",
            "max_age_s": 60,
            "congestion_points": {"ean.871685900000000001": "CP-1"},
            "peers": [
                {
                    **_binding(public),
                    "endpoint": "http://127.0.0.1:3/x",
                    "key_env": "A",
                    "congestion_points": ["ean.871685900000000001"],
                }
            ],
        }
    )


def _signed(private: str, domain: str = "agr.example.com", **msg: object) -> bytes:
    message = TestMessage(
        sender_domain=domain,
        recipient_domain="market.flexmarket.example",
        message_id="5f0c8e36-5d0a-4a53-9a9a-3d1e7c9f0a11",
        conversation_id="5f0c8e36-5d0a-4a53-9a9a-3d1e7c9f0a12",
        time_stamp=msg.pop("time_stamp", dt.datetime.now(dt.UTC).isoformat()),  # type: ignore[arg-type]
    )
    body = seal_message(message, private)
    return to_xml(SignedMessage(sender_domain=domain, sender_role="AGR", body=body)).encode()


def test_envelope_refuses_forged_unknown_and_stale_messages() -> None:
    private, public = _ed25519()
    cfg = _cfg(public)
    opened = open_message(_signed(private), cfg)  # type: ignore[arg-type]
    check_opened(opened, cfg, dt.datetime.now(dt.UTC).timestamp())  # type: ignore[arg-type]
    other, _ = _ed25519()
    with pytest.raises(TransportRefusal) as forged:
        open_message(_signed(other), cfg)  # type: ignore[arg-type]
    assert forged.value.status == 401
    with pytest.raises(TransportRefusal) as unknown:
        open_message(_signed(private, "stranger.example.com"), cfg)  # type: ignore[arg-type]
    assert unknown.value.status == 401 and "unknown sender" in unknown.value.detail
    with pytest.raises(TransportRefusal) as garbage:
        open_message(b"<not-uftp/>", cfg)  # type: ignore[arg-type]
    assert garbage.value.status == 400
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    stale = open_message(_signed(private, time_stamp=old), cfg)  # type: ignore[arg-type]
    with pytest.raises(Rejection) as exc:
        check_opened(stale, cfg, dt.datetime.now(dt.UTC).timestamp())  # type: ignore[arg-type]
    assert exc.value.reason.startswith("Stale Message")


def test_config_names_the_field() -> None:
    _, public = _ed25519()
    with pytest.raises(UftpConfigError) as exc:
        parse_config(
            {
                "api_url": "http://a",
                "rpc_url": "http://b",
                "domain": "market.flexmarket.example",
                "signing_key_env": "K",
                "congestion_points": {"ean.1": "CP"},
                "peers": [
                    {**_binding(public), "role": "DSO", "endpoint": "http://c", "key_env": "A"}
                ],
            }
        )
    assert exc.value.field == "peers[0].terms"


def test_the_example_config_is_refused_only_for_its_placeholder_signatures() -> None:
    """``uftp.example.yaml`` is the documented shape: with real signatures in place of its
    placeholders it parses."""
    import yaml

    from adapters.chain.toolchain import project_root

    data = yaml.safe_load((project_root() / "uftp.example.yaml").read_text())
    with pytest.raises(UftpConfigError) as exc:
        parse_config(data)
    assert exc.value.field == "peers[0].binding_signature"
    for peer in data["peers"]:
        peer["binding_signature"] = "0x" + "ab" * 65
    cfg = parse_config(data)
    assert [p.role for p in cfg.peers] == ["AGR", "DSO"]
