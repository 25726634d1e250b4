import sys
from pathlib import Path

# The verdict tests' builders (bundled rule table, inventories, flow tables).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verdicts"))
