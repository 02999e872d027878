"""Model backends behind one small protocol (``base.Model``), chosen by spec strings (``registry``)."""
