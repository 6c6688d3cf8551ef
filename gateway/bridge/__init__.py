"""The edge's WebSocket/SSE bridge for streaming RPCs (docs/streaming.md)."""
