"""Run profiles as data: :class:`Profile` and the loader of profile TOML files."""

from harness.profiles.loader import BUILTIN_DIR, builtin_profiles, get_profile, load_profile, profile_from_dict
from harness.profiles.profile import Profile, SaeSet

__all__ = ["BUILTIN_DIR", "Profile", "SaeSet", "builtin_profiles", "get_profile", "load_profile", "profile_from_dict"]
