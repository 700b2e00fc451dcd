"""The rules of the engine: who may fire what and why not, the one role-and-area filter,
clocks and deadlines, the state machine."""
