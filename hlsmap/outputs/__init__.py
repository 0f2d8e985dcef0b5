"""Outputs: COGs, STAC items, PNG quicklooks and area statistics."""
