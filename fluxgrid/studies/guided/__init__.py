"""The guided study."""
