-- 0003_answer_chars: each scored pair's answer lengths, stored by score next to its scores so
-- samples.csv does not re-read every answer text. NULL in runs made before this migration
-- (reports then count the characters from pairs).
ALTER TABLE pair_scores ADD COLUMN chosen_chars INTEGER;   -- UTF-8 code points of the chosen answer
ALTER TABLE pair_scores ADD COLUMN rejected_chars INTEGER; -- UTF-8 code points of the rejected one
