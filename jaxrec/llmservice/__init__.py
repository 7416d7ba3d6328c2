"""Label-free performance estimation of LLM services from NLL / PPL profiles (Wang et al.,
ICSOC 2024). See README.md in this folder."""
