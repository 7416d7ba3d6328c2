"""MSL: LLM-as-recommender fine-tuning with a trie-masked softmax loss, adaptive temperature and
constrained beam search (Wang et al., SIGIR 2025). See ``specs/msl.md`` in the shared folder
beside the checkout (``../shared``)."""
