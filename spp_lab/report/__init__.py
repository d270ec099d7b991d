"""Results: runs → DataFrame, statistics across seeds, paper-style tables and charts."""
