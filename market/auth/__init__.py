"""Who may do what: EIP-712 signed writes, SIWE session tokens for private reads, roles."""
