"""A client of a lifecycle node's services, for tests (``get_state``, ``change_state``).

Right after a service is discovered, DDS may not yet have matched the server's response writer with
the client's reader, and the first response can be lost (seen once in four CI runs). The client
therefore shakes hands on creation: it asks ``get_state`` (harmless to repeat) until an answer
arrives; after that every response path is matched and transitions are sent once.
"""

from __future__ import annotations

from typing import Any

from support.ros_harness import RosTestNode, call_idempotent, wait_until

SERVICE_TIMEOUT_S = 20.0
HANDSHAKE_ATTEMPTS = 4
HANDSHAKE_WAIT_S = 5.0


class LifecycleClient:
    """``get_state`` / ``change_state`` of the lifecycle node ``name``, ready to use."""

    def __init__(self, ros_node: RosTestNode, name: str) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self._change = ros_node.node.create_client(ChangeState, f"{name}/change_state")
        self._get = ros_node.node.create_client(GetState, f"{name}/get_state")
        for client in (self._change, self._get):
            assert client.wait_for_service(timeout_sec=SERVICE_TIMEOUT_S), f"service {client.srv_name} not available"
        self._handshake()

    def _handshake(self) -> None:
        from lifecycle_msgs.srv import GetState

        call_idempotent(self._get, GetState.Request(), HANDSHAKE_ATTEMPTS, HANDSHAKE_WAIT_S)

    @staticmethod
    def _call(client: Any, request: Any) -> Any:
        future = client.call_async(request)
        wait_until(future.done, SERVICE_TIMEOUT_S, f"a response from {client.srv_name}")
        return future.result()

    def state(self) -> str:
        """Label of the node's current lifecycle state (``unconfigured``, ``inactive``, ``active``...)."""
        from lifecycle_msgs.srv import GetState

        return self._call(self._get, GetState.Request()).current_state.label

    def transition(self, label: str) -> bool:
        """Trigger the transition ``label`` (``configure``, ``activate``...); True on success."""
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.label = label
        return self._call(self._change, request).success
