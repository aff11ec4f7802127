import sys
from pathlib import Path

# The benchmark helpers are plain modules beside the suites.
sys.path.insert(0, str(Path(__file__).parent))
