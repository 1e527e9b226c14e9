"""Framework adapters, each an optional extra that pins its framework exactly:

- :mod:`memoturn.integrations.langgraph` (``memoturn[langgraph]``): ``MemoturnStore``, a
  LangGraph ``BaseStore``;
- :mod:`memoturn.integrations.openai_agents` (``memoturn[openai-agents]``):
  ``MemoturnSession``, an OpenAI Agents SDK ``Session``;
- :mod:`memoturn.integrations.pydantic_ai` (``memoturn[pydantic-ai]``):
  ``MemoturnConversationStore``, a Pydantic AI ``ConversationStore``.

Each talks to a node through the SDK (:class:`memoturn.Client` / :class:`memoturn.AsyncClient`)
or runs on the in-process engine of :func:`memoturn.open`. Importing this package imports no
framework; import the adapter's module for that (docs/integrations.md).
"""
