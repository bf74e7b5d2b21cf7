"""Voice-cue profiles: a customer's opt-out and voice baseline, kept across calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carestore.engine import StoreBase
from carestore.errors import NotFound
from carestore.models import CustomerRow
from carestore.voice_models import VoiceProfileRow


@dataclass(frozen=True)
class VoiceProfile:
    """What the service keeps about a customer's voice."""

    customer_id: int
    cues_opt_out: bool
    baseline: dict[str, Any] | None


class VoiceProfileStore(StoreBase):
    """Voice profiles (one row per customer, made on first write)."""

    def voice_profile(self, customer_id: int) -> VoiceProfile:
        """The customer's voice profile (defaults when nothing is stored yet)."""
        with self.read() as session:
            row = session.get(VoiceProfileRow, customer_id)
            if row is None:
                return VoiceProfile(customer_id, False, None)
            return VoiceProfile(customer_id, bool(row.cues_opt_out), row.baseline)

    def _profile_row(self, session: Any, customer_id: int) -> VoiceProfileRow:
        if session.get(CustomerRow, customer_id) is None:
            raise NotFound(f"no customer with id {customer_id}")
        row = session.get(VoiceProfileRow, customer_id)
        if row is None:
            row = VoiceProfileRow(customer_id=customer_id, cues_opt_out=False)
            session.add(row)
        return row

    def set_voice_cues_opt_out(self, customer_id: int, opt_out: bool) -> VoiceProfile:
        """Record the customer's choice about voice cues (True: never assess their voice);
        opting out also forgets the stored baseline."""
        with self.write() as session:
            row = self._profile_row(session, customer_id)
            row.cues_opt_out = bool(opt_out)
            if opt_out:
                row.baseline = None
            session.flush()
            return VoiceProfile(customer_id, row.cues_opt_out, row.baseline)

    def set_voice_baseline(self, customer_id: int, baseline: dict[str, Any]) -> bool:
        """Keep the customer's voice baseline; refused (False) when they opted out."""
        if not isinstance(baseline, dict):
            raise TypeError("baseline must be a dict (CallerBaseline.to_dict())")
        with self.write() as session:
            row = self._profile_row(session, customer_id)
            if row.cues_opt_out:
                return False
            row.baseline = baseline
            return True
