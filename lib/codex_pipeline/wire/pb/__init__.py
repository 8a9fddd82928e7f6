"""Generated protobuf code for proto/ (regenerate with ``make proto``; drift is tested)."""
