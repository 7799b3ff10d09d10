"""The participant library: how a DSO or FSP acts in the market (see ``participant``)."""

from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant

__all__ = ["ChainAccount", "Participant", "ParticipantError"]
