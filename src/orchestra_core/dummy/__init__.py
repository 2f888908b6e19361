"""The built-in dummy driver: the example for driver authors and the engine of the demo."""
