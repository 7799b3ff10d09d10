"""The participant library: how a DSO or FSP acts in the market.

``participant.Participant`` (API and chain steps), ``onchain.ChainAccount`` (the transactions
alone), ``connect.connect`` (from a URL and a key), ``errors.ParticipantError``. Nothing is
re-exported here, so importing ``errors`` or ``onchain`` does not load the API's store models
(``flexmarket audit`` must run where no database library is installed).
"""
