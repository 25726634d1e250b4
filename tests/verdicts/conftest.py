import sys
from pathlib import Path

# verdict_builders.py lives beside this file; tests/report imports it too.
sys.path.insert(0, str(Path(__file__).resolve().parent))
