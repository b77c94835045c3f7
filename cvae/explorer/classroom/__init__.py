"""The live classroom: the join QR code, students' drawings, the teacher's map, and the pieces its two pages share."""
