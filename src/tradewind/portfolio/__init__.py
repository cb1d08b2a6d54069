"""Budget pools as a double-entry ledger, and position sizing."""
