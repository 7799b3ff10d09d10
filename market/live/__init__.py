"""`flexmarket live`: a scenario with each role as its own OS process on the chain's clock."""
