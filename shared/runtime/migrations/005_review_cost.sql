-- What the reviews of each pull request cost so far, summed over its reviews (shared/review/cost.py):
-- the body of each review ends with its own cost and this running total.
ALTER TABLE reviews
    ADD COLUMN total_reviews           integer NOT NULL DEFAULT 0,
    ADD COLUMN total_calls             integer NOT NULL DEFAULT 0,
    ADD COLUMN total_prompt_tokens     bigint NOT NULL DEFAULT 0,
    ADD COLUMN total_completion_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN total_cost_usd          numeric(14, 6) NOT NULL DEFAULT 0;
