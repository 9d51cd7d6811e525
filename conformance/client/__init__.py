"""Client conformance: run a client program against the record-and-judge mock and judge what it
sent by the client rules of the catalog (C-AUTH-1 … C-ERR-1)."""
