"""Thin AWS Lambda handlers over the facemood core: ``augment.handler`` and ``face.handler``."""
