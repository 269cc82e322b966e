"""The known error database: signals, the vectorised index, and matching incidents to known errors."""
