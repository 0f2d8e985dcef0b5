"""The synthetic HLS world."""
