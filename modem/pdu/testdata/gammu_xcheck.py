#!/usr/bin/python3
"""Cross-check helper for modem/pdu's tests: an independent SMS codec (Debian's
python3-gammu) encodes and decodes PDUs for the Go tests.

Input (stdin): a JSON array of requests; output (stdout): a JSON array of
responses, one per request, in order. Requests:

  {"op": "decode", "pdu": HEX}            HEX starts with the SMSC field
  {"op": "encode", "text": T, "number": N, "unicode": BOOL,
   "layout": "Submit"|"Deliver", "ref16": BOOL}
                                          -> {"pdus": [HEX, ...]} (with SMSC field)

Exit status 3 (and a message on stderr) when the gammu module is missing, so
the Go test can skip with a clear reason.
"""
import binascii
import json
import sys

try:
    import gammu
except ImportError as exc:  # pragma: no cover - environment dependent
    sys.stderr.write("python3-gammu is not installed: %s\n" % exc)
    sys.exit(3)

SMSC_NONE = {"Location": 0, "Number": "", "Format": "Text", "Validity": "NA",
             "DefaultNumber": "", "Name": ""}


def decode(req):
    d = gammu.DecodePDU(binascii.unhexlify(req["pdu"]), SMSC=True)
    udh = d.get("UDH") or {}
    dt = d.get("DateTime")
    sdt = d.get("SMSCDateTime")
    return {
        "ok": True,
        "type": d.get("Type"),
        "number": d.get("Number"),
        "text": d.get("Text"),
        "length": d.get("Length"),
        "coding": d.get("Coding"),
        "class": d.get("Class"),
        "smsc": (d.get("SMSC") or {}).get("Number"),
        "udh_type": udh.get("Type"),
        "ref8": udh.get("ID8bit"),
        "ref16": udh.get("ID16bit"),
        "part": udh.get("PartNumber"),
        "all": udh.get("AllParts"),
        "status": d.get("DeliveryStatus"),
        "mr": d.get("MessageReference"),
        "datetime": dt.isoformat() if dt else None,
        "smsc_datetime": sdt.isoformat() if sdt else None,
    }


def encode(req):
    entry = {"ID": "ConcatenatedTextLong16bit" if req.get("ref16") else "ConcatenatedTextLong",
             "Buffer": req["text"]}
    msgs = gammu.EncodeSMS({"Class": -1, "Unicode": bool(req.get("unicode")),
                            "Entries": [entry]})
    layout = req.get("layout", "Submit")
    out = []
    for m in msgs:
        m["Number"] = req["number"]
        m["SMSC"] = dict(SMSC_NONE)
        if layout == "Deliver":
            import datetime
            m["Type"] = "Deliver"
            m["DateTime"] = datetime.datetime(2026, 11, 24, 10, 30, 0)
        out.append(binascii.hexlify(gammu.EncodePDU(m, Layout=layout)).decode().upper())
    return {"ok": True, "pdus": out}


def main():
    reqs = json.load(sys.stdin)
    resps = []
    for req in reqs:
        try:
            resps.append({"decode": decode, "encode": encode}[req["op"]](req))
        except Exception as exc:  # one bad request must not hide the others
            resps.append({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
    json.dump(resps, sys.stdout)


if __name__ == "__main__":
    main()
