"""Live job events to clients: SSE and WebSocket over one replay-then-follow iterator."""
