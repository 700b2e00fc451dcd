"""aidflow: a workflow and approval engine for social-assistance casework."""

__version__ = "0.1.0"
