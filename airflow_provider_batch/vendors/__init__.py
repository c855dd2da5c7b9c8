"""Vendors of batch APIs, one folder each (see issue 21): its wire client, and its emulation in the
local server. The vendor contract and the registry that maps a connection type to a vendor come
later; nothing here is wired into the operators, triggers or the ledger yet."""
